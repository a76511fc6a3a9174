/* translate.c: the MySQL-isms that common tools send, turned into SQLite, and nothing more.
 *
 * A statement is cut into tokens (words, quoted strings, backquoted names, comments,
 * punctuation); the output is the tokens again with these changes:
 *   - `name` -> "name"; "text" and 'te\'xt' (MySQL strings) -> 'te''xt';
 *   - comments go, including MySQL's version comments (slash-star-bang 40101 ... and
 *     slash-star-bang ENGINE=...): SQLite needs none of what they carry;
 *   - CREATE TABLE: the table options after the column list (ENGINE=, DEFAULT CHARSET=,
 *     AUTO_INCREMENT=, COMMENT=) go; a column with AUTO_INCREMENT becomes
 *     INTEGER PRIMARY KEY AUTOINCREMENT (SQLite assigns ids only to such a column) and the
 *     table's PRIMARY KEY (col) then goes; inline KEY/INDEX entries go (SQLite has none:
 *     only speed is lost), UNIQUE KEY name (cols) becomes UNIQUE (cols); UNSIGNED, ZEROFILL,
 *     CHARACTER SET, COLLATE, COMMENT and ON UPDATE on a column go; ENUM(...)/SET(...) -> TEXT;
 *   - CREATE/DROP DATABASE record the name in minidb_databases: a database is a namespace
 *     only (all tables share one SQLite schema), and db.table loses its db. prefix;
 *   - INSERT IGNORE -> INSERT OR IGNORE; TRUNCATE t -> DELETE FROM t;
 *   - SHOW TABLES / SHOW DATABASES -> SELECTs on SQLite's catalog.
 * Anything else is passed to SQLite as written, and SQLite's error reaches the client. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "minidb.h"

typedef enum tok_kind { T_WS, T_WORD, T_STR, T_BQ, T_COMMENT, T_PUNCT } tok_kind;

typedef struct tok {
    tok_kind kind;
    const char *p;
    size_t len;
} tok;

typedef struct toks {
    tok *v;
    size_t n, cap;
} toks;

static bool word_char(unsigned char c) {
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Quoted runs end at their unescaped closing quote; an unterminated one runs to the end
 * (SQLite then reports the syntax error). */
static size_t quoted_len(const char *s, size_t len, char q) {
    size_t i = 1;
    while (i < len) {
        if (s[i] == '\\' && q != '`' && i + 1 < len) {
            i += 2;
        } else if (s[i] == q && i + 1 < len && s[i + 1] == q) {
            i += 2;
        } else if (s[i] == q) {
            return i + 1;
        } else {
            i++;
        }
    }
    return len;
}

static int tokenize(const char *s, size_t len, toks *out) {
    size_t i = 0;
    while (i < len) {
        tok t = {T_PUNCT, s + i, 1};
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            t.kind = T_WS;
            while (i + t.len < len && isspace((unsigned char)s[i + t.len])) {
                t.len++;
            }
        } else if (c == '#' || (c == '-' && i + 2 < len && s[i + 1] == '-' &&
                                isspace((unsigned char)s[i + 2]))) {
            t.kind = T_COMMENT;
            while (i + t.len < len && s[i + t.len] != '\n') {
                t.len++;
            }
        } else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < len; j++) {
                if (s[j] == '*' && s[j + 1] == '/') {
                    end = s + j + 2;
                    break;
                }
            }
            t.kind = T_COMMENT;
            t.len = end != NULL ? (size_t)(end - (s + i)) : len - i;
        } else if (c == '\'' || c == '"') {
            t.kind = T_STR;
            t.len = quoted_len(s + i, len - i, (char)c);
        } else if (c == '`') {
            t.kind = T_BQ;
            t.len = quoted_len(s + i, len - i, '`');
        } else if (word_char(c)) {
            t.kind = T_WORD;
            while (i + t.len < len && word_char((unsigned char)s[i + t.len])) {
                t.len++;
            }
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            tok *v = realloc(out->v, cap * sizeof(*v));
            if (v == NULL) {
                return -1;
            }
            out->v = v;
            out->cap = cap;
        }
        out->v[out->n++] = t;
        i += t.len;
    }
    return 0;
}

static bool is_word(const tok *t, const char *w) {
    return t != NULL && t->kind == T_WORD && strlen(w) == t->len &&
           strncasecmp(t->p, w, t->len) == 0;
}
static bool is_punct(const tok *t, char c) {
    return t != NULL && t->kind == T_PUNCT && t->p[0] == c;
}

/* The next significant token at or after *i (skipping blanks and comments), or NULL. */
static tok *next_sig(toks *ts, size_t *i) {
    while (*i < ts->n && (ts->v[*i].kind == T_WS || ts->v[*i].kind == T_COMMENT)) {
        (*i)++;
    }
    return *i < ts->n ? &ts->v[*i] : NULL;
}

/* The index of the ')' matching the '(' at open, or ts->n. */
static size_t matching(const toks *ts, size_t open) {
    int depth = 0;
    for (size_t i = open; i < ts->n; i++) {
        if (is_punct(&ts->v[i], '(')) {
            depth++;
        } else if (is_punct(&ts->v[i], ')') && --depth == 0) {
            return i;
        }
    }
    return ts->n;
}

minidb_kind minidb_classify(const char *sql, size_t len) {
    toks ts = {0};
    if (tokenize(sql, len, &ts) < 0) {
        free(ts.v);
        return MINIDB_ADMIN;
    }
    size_t i = 0;
    tok *first = next_sig(&ts, &i);
    minidb_kind kind = MINIDB_ADMIN;
    i++;
    tok *second = next_sig(&ts, &i);
    if (first == NULL || (is_punct(first, ';') && second == NULL)) {
        kind = MINIDB_EMPTY;
    } else if (is_word(first, "SELECT") || is_word(first, "WITH")) {
        /* A SELECT without a table of ours (@@variables, SELECT 1, DATABASE(), the
         * system schemas) is the administrative handler's. */
        for (size_t j = 0; j < ts.n; j++) {
            if (is_punct(&ts.v[j], '@')) {
                break;
            }
            if (is_word(&ts.v[j], "FROM")) {
                size_t k = j + 1;
                tok *from = next_sig(&ts, &k);
                bool ours = from != NULL && !is_word(from, "DUAL") &&
                            !is_word(from, "information_schema") && !is_word(from, "mysql") &&
                            !is_word(from, "performance_schema") && !is_word(from, "sys");
                kind = ours ? MINIDB_READ : MINIDB_ADMIN;
                break;
            }
        }
        for (size_t j = 0; j < ts.n && kind == MINIDB_READ; j++) {
            if (is_punct(&ts.v[j], '@')) {
                kind = MINIDB_ADMIN;
            }
        }
    } else if (is_word(first, "SHOW")) {
        kind =
            is_word(second, "TABLES") || is_word(second, "DATABASES") || is_word(second, "SCHEMAS")
                ? MINIDB_READ
                : MINIDB_ADMIN;
    } else if (is_word(first, "INSERT") || is_word(first, "UPDATE") || is_word(first, "DELETE") ||
               is_word(first, "REPLACE") || is_word(first, "TRUNCATE")) {
        kind = MINIDB_WRITE;
    } else if (is_word(first, "CREATE") || is_word(first, "DROP") || is_word(first, "ALTER")) {
        /* CREATE USER, DROP USER, ALTER USER ... are nodenet's. */
        kind = is_word(second, "TABLE") || is_word(second, "DATABASE") ||
                       is_word(second, "SCHEMA") || is_word(second, "INDEX") ||
                       is_word(second, "UNIQUE") || is_word(second, "VIEW")
                   ? MINIDB_WRITE
                   : MINIDB_ADMIN;
    }
    free(ts.v);
    return kind;
}

/* ----------------------------------------------------------------- output */

typedef struct out {
    char *p;
    size_t len, cap;
    bool bad; /* sticky: one check at the end */
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->bad) {
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->bad = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}
static void puts_(out *o, const char *s) {
    put(o, s, strlen(s));
}

/* A MySQL string ('...' or "...", backslash escapes) as a SQLite one. */
static void put_string(out *o, const tok *t) {
    char q = t->p[0];
    size_t end = t->len >= 2 && t->p[t->len - 1] == q ? t->len - 1 : t->len;
    puts_(o, "'");
    for (size_t i = 1; i < end; i++) {
        char c = t->p[i];
        if (c == '\\' && i + 1 < end) {
            char e = t->p[++i];
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'Z':
                c = 26;
                break;
            case '0':
                continue; /* SQLite text cannot hold NUL through a literal */
            case '%':
            case '_':
                put(o, "\\", 1);
                c = e;
                break; /* MySQL keeps these for LIKE */
            default:
                c = e;
                break;
            }
        } else if (c == q && i + 1 < end && t->p[i + 1] == q) {
            i++;
        }
        if (c == '\'') {
            put(o, "''", 2);
        } else {
            put(o, &c, 1);
        }
    }
    puts_(o, "'");
}

/* A name as written (word, `quoted`, "quoted" is a string in MySQL), unquoted into buf. */
static void name_of(const tok *t, char *buf, size_t cap) {
    size_t n = 0;
    size_t from = 0, to = t->len;
    if (t->kind == T_BQ) {
        from = 1;
        to = t->len >= 2 ? t->len - 1 : t->len;
    }
    for (size_t i = from; i < to && n + 1 < cap; i++) {
        if (t->kind == T_BQ && t->p[i] == '`' && i + 1 < to) {
            i++;
        }
        buf[n++] = t->p[i];
    }
    buf[n] = '\0';
}

static void put_name(out *o, const tok *t) {
    char name[256];
    name_of(t, name, sizeof(name));
    puts_(o, "\"");
    for (const char *c = name; *c; c++) {
        put(o, c, 1);
        if (*c == '"') {
            put(o, "\"", 1);
        }
    }
    puts_(o, "\"");
}

typedef struct ctx {
    toks ts;
    out o;
    bool (*is_database)(void *arg, const char *name);
    void *arg;
    tok *autoinc_column; /* CREATE TABLE: the AUTO_INCREMENT column's name */
} ctx;

/* Tokens [from, to) with the generic changes. */
static void emit(ctx *c, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        tok *t = &c->ts.v[i];
        if ((t->kind == T_WORD || t->kind == T_BQ) && i + 2 < to &&
            is_punct(&c->ts.v[i + 1], '.') &&
            (c->ts.v[i + 2].kind == T_WORD || c->ts.v[i + 2].kind == T_BQ)) {
            char name[256];
            name_of(t, name, sizeof(name));
            if (c->is_database(c->arg, name)) {
                i++; /* db.table -> table */
                continue;
            }
        }
        switch (t->kind) {
        case T_COMMENT:
            put(&c->o, " ", 1);
            break;
        case T_STR:
            put_string(&c->o, t);
            break;
        case T_BQ:
            put_name(&c->o, t);
            break;
        default:
            put(&c->o, t->p, t->len);
            break;
        }
    }
}

static size_t skip_ws(const toks *ts, size_t i, size_t to) {
    while (i < to && (ts->v[i].kind == T_WS || ts->v[i].kind == T_COMMENT)) {
        i++;
    }
    return i;
}

/* One column definition [from, to): name, type, attributes. */
static void emit_column(ctx *c, size_t from, size_t to) {
    toks *ts = &c->ts;
    size_t i = skip_ws(ts, from, to);
    bool autoinc = false;
    for (size_t j = i; j < to; j++) {
        autoinc |= is_word(&ts->v[j], "AUTO_INCREMENT");
    }
    emit(c, i, i + 1); /* the name */
    if (autoinc) {
        c->autoinc_column = &ts->v[i];
        puts_(&c->o, " INTEGER PRIMARY KEY AUTOINCREMENT");
        return;
    }
    for (i = i + 1; i < to; i++) {
        tok *t = &ts->v[i];
        if (is_word(t, "UNSIGNED") || is_word(t, "SIGNED") || is_word(t, "ZEROFILL")) {
            continue;
        }
        if (is_word(t, "ENUM") || is_word(t, "SET")) {
            size_t k = skip_ws(ts, i + 1, to);
            if (k < to && is_punct(&ts->v[k], '(')) {
                puts_(&c->o, "TEXT");
                i = matching(ts, k);
                continue;
            }
        }
        /* Attributes with a value: CHARACTER SET x, CHARSET x, COLLATE x, COMMENT 'x',
         * ON UPDATE CURRENT_TIMESTAMP[(n)]. */
        size_t skip_words = 0;
        if (is_word(t, "CHARACTER") || is_word(t, "ON")) {
            skip_words = 2;
        } else if (is_word(t, "CHARSET") || is_word(t, "COLLATE") || is_word(t, "COMMENT")) {
            skip_words = 1;
        }
        if (skip_words > 0) {
            size_t k = i;
            for (size_t w = 0; w < skip_words; w++) {
                k = skip_ws(ts, k + 1, to);
            }
            size_t after = skip_ws(ts, k + 1, to);
            if (after < to && is_punct(&ts->v[after], '(')) {
                k = matching(ts, after);
            }
            i = k;
            continue;
        }
        emit(c, i, i + 1);
    }
}

/* CREATE TABLE name ( items ) options: items rewritten, options dropped. */
static void create_table(ctx *c, size_t open) {
    toks *ts = &c->ts;
    size_t close = matching(ts, open);
    emit(c, 0, open + 1);
    /* Items end at top-level commas. First pass: is there an AUTO_INCREMENT column? */
    bool has_autoinc = false;
    for (size_t i = open + 1; i < close; i++) {
        has_autoinc |= is_word(&ts->v[i], "AUTO_INCREMENT");
    }
    bool first = true;
    size_t start = open + 1;
    int depth = 0;
    for (size_t i = open + 1; i <= close; i++) {
        if (is_punct(&ts->v[i], '(')) {
            depth++;
            continue;
        }
        if (is_punct(&ts->v[i], ')') && i != close) {
            depth--;
            continue;
        }
        if (!(i == close || (depth == 0 && is_punct(&ts->v[i], ',')))) {
            continue;
        }
        size_t s = skip_ws(ts, start, i);
        tok *head = s < i ? &ts->v[s] : NULL;
        start = i + 1;
        if (head == NULL || is_word(head, "KEY") || is_word(head, "INDEX") ||
            is_word(head, "FULLTEXT") || is_word(head, "SPATIAL") ||
            (is_word(head, "PRIMARY") && has_autoinc)) {
            continue;
        }
        if (!first) {
            puts_(&c->o, ", ");
        }
        first = false;
        if (is_word(head, "UNIQUE") || is_word(head, "PRIMARY")) {
            size_t p = s;
            while (p < i && !is_punct(&ts->v[p], '(')) {
                p++;
            }
            puts_(&c->o, is_word(head, "UNIQUE") ? "UNIQUE " : "PRIMARY KEY ");
            emit(c, p, p < i ? matching(ts, p) + 1 : i);
        } else if (is_word(head, "CONSTRAINT") || is_word(head, "FOREIGN") ||
                   is_word(head, "CHECK")) {
            emit(c, s, i);
        } else {
            emit_column(c, s, i);
        }
    }
    puts_(&c->o, ")");
    if (c->autoinc_column == NULL) {
        return;
    }
    /* MySQL gives the next id for 0 as for NULL (sysbench inserts 0); SQLite stores 0. A
     * trigger in the same write (so it replicates with it) moves such a row to the next id. */
    size_t name = open;
    while (name > 0 && ts->v[name - 1].kind != T_WORD && ts->v[name - 1].kind != T_BQ) {
        name--;
    }
    if (name == 0) {
        return;
    }
    tok *table = &ts->v[name - 1];
    char tname[256];
    name_of(table, tname, sizeof(tname));
    puts_(&c->o, ";\nCREATE TRIGGER IF NOT EXISTS \"minidb_autoinc_");
    for (const char *p = tname; *p; p++) {
        put(&c->o, *p == '"' ? "_" : p, 1);
    }
    puts_(&c->o, "\" AFTER INSERT ON ");
    put_name(&c->o, table);
    puts_(&c->o, " WHEN NEW.");
    put_name(&c->o, c->autoinc_column);
    puts_(&c->o, " = 0 BEGIN UPDATE ");
    put_name(&c->o, table);
    puts_(&c->o, " SET ");
    put_name(&c->o, c->autoinc_column);
    puts_(&c->o, " = (SELECT max(");
    put_name(&c->o, c->autoinc_column);
    puts_(&c->o, ") + 1 FROM ");
    put_name(&c->o, table);
    puts_(&c->o, ") WHERE rowid = NEW.rowid; END");
}

char *minidb_translate(const char *sql, size_t len,
                       bool (*is_database)(void *arg, const char *name), void *arg) {
    ctx c = {.is_database = is_database, .arg = arg};
    if (tokenize(sql, len, &c.ts) < 0) {
        free(c.ts.v);
        return NULL;
    }
    /* Trailing ';' and blanks: SQLite wants one statement. */
    while (c.ts.n > 0 && (c.ts.v[c.ts.n - 1].kind == T_WS || c.ts.v[c.ts.n - 1].kind == T_COMMENT ||
                          is_punct(&c.ts.v[c.ts.n - 1], ';'))) {
        c.ts.n--;
    }
    size_t i = 0;
    tok *w1 = next_sig(&c.ts, &i);
    size_t i2 = i + 1;
    tok *w2 = next_sig(&c.ts, &i2);
    size_t i3 = i2 + 1;
    tok *w3 = next_sig(&c.ts, &i3);
    puts_(&c.o, "");
    if ((is_word(w1, "CREATE") || is_word(w1, "DROP")) &&
        (is_word(w2, "DATABASE") || is_word(w2, "SCHEMA"))) {
        bool create = is_word(w1, "CREATE");
        bool if_clause = is_word(w3, "IF");
        size_t k = i3;
        if (if_clause) {
            k++;
            next_sig(&c.ts, &k); /* NOT (create) or EXISTS (drop) */
            k++;
            if (create) {
                next_sig(&c.ts, &k); /* EXISTS */
                k++;
            }
        }
        tok *name = next_sig(&c.ts, &k);
        char db[256] = "";
        if (name != NULL) {
            name_of(name, db, sizeof(db));
        }
        tok lit = {T_STR, NULL, 0};
        char quoted[300];
        snprintf(quoted, sizeof(quoted), "'%s'", db);
        for (char *q = quoted + 1; *q && q[1]; q++) {
            if (*q == '\'') {
                *q = ' '; /* never a name of ours: keep the literal well-formed */
            }
        }
        lit.p = quoted;
        lit.len = strlen(quoted);
        if (create) {
            puts_(&c.o, if_clause ? "INSERT OR IGNORE" : "INSERT");
            puts_(&c.o, " INTO minidb_databases(name) VALUES(");
        } else {
            puts_(&c.o, "DELETE FROM minidb_databases WHERE name = ");
        }
        put(&c.o, lit.p, lit.len);
        puts_(&c.o, create ? ")" : "");
    } else if (is_word(w1, "TRUNCATE")) {
        puts_(&c.o, "DELETE FROM ");
        emit(&c, is_word(w2, "TABLE") ? i3 : i2, c.ts.n);
    } else if (is_word(w1, "SHOW") && is_word(w2, "TABLES")) {
        puts_(&c.o,
              "SELECT name AS \"Tables\" FROM sqlite_master WHERE type = 'table' AND name NOT "
              "LIKE 'minidb\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
              "ORDER BY name");
    } else if (is_word(w1, "SHOW")) {
        puts_(&c.o, "SELECT name AS \"Database\" FROM minidb_databases ORDER BY name");
    } else if (is_word(w1, "INSERT") && is_word(w2, "IGNORE")) {
        puts_(&c.o, "INSERT OR IGNORE");
        emit(&c, i2 + 1, c.ts.n);
    } else if (is_word(w1, "CREATE") && is_word(w2, "TABLE")) {
        size_t k = i3;
        while (k < c.ts.n && !is_punct(&c.ts.v[k], '(') && !is_word(&c.ts.v[k], "AS") &&
               !is_word(&c.ts.v[k], "LIKE") && !is_word(&c.ts.v[k], "SELECT")) {
            k++;
        }
        if (k < c.ts.n && is_punct(&c.ts.v[k], '(')) {
            create_table(&c, k);
        } else {
            emit(&c, 0, c.ts.n);
        }
    } else {
        emit(&c, 0, c.ts.n);
    }
    free(c.ts.v);
    if (c.o.bad) {
        free(c.o.p);
        return NULL;
    }
    return c.o.p;
}
