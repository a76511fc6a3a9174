/* security/policy.c: who may come in over which TLS session.
 *
 * MySQL's per-account SSL requirement (mysql.user.ssl_type and friends) with MySQL's own
 * semantics, the REQUIRE clause that sets it, and the RPC rules: node identity and the
 * tool-client allow-list. Pure functions over nn_tls_facts: no BoringSSL session here.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "security/security.h"

/* ------------------------------------------------------------ REQUIRE parse */

typedef struct lexer {
    const char *text;
    size_t len;
    size_t pos;
} lexer;

static void skip_space(lexer *lx) {
    while (lx->pos < lx->len && isspace((unsigned char)lx->text[lx->pos])) {
        lx->pos++;
    }
}

static bool is_word_char(char c) {
    return isalnum((unsigned char)c) || c == '_';
}

/* Reads a keyword-shaped token at pos (after spaces); returns its length, 0 if none. */
static size_t peek_word(lexer *lx, size_t *start) {
    skip_space(lx);
    *start = lx->pos;
    size_t end = lx->pos;
    while (end < lx->len && is_word_char(lx->text[end])) {
        end++;
    }
    return end - *start;
}

static bool word_is(const lexer *lx, size_t start, size_t n, const char *kw) {
    return strlen(kw) == n && strncasecmp(lx->text + start, kw, n) == 0;
}

static int syntax_error(nn_err *err, const lexer *lx, size_t at, const char *expected) {
    if (at >= lx->len) {
        return nn_err_set(err, EINVAL, "REQUIRE: expected %s at end of input", expected);
    }
    size_t n = lx->len - at;
    if (n > 20) {
        n = 20;
    }
    return nn_err_set(err, EINVAL, "REQUIRE: expected %s at offset %zu near '%.*s'", expected, at,
                      (int)n, lx->text + at);
}

/* A MySQL string literal: '...' or "...", the quote doubled or backslash-escaped inside.
 * Backslash escapes as MySQL reads them (\0 is refused: our strings are C strings). */
static int read_string(lexer *lx, const char *what, char **out, nn_err *err) {
    skip_space(lx);
    if (lx->pos >= lx->len || (lx->text[lx->pos] != '\'' && lx->text[lx->pos] != '"')) {
        char expected[64];
        snprintf(expected, sizeof(expected), "a quoted string after %s", what);
        return syntax_error(err, lx, lx->pos, expected);
    }
    size_t open_at = lx->pos;
    char quote = lx->text[lx->pos++];
    /* The unescaped value is never longer than the quoted text. */
    char *value = malloc(lx->len - lx->pos + 1);
    if (value == NULL) {
        return nn_err_set(err, ENOMEM, "out of memory");
    }
    size_t n = 0;
    for (;;) {
        if (lx->pos >= lx->len) {
            free(value);
            return nn_err_set(err, EINVAL, "REQUIRE: unterminated string after %s at offset %zu",
                              what, open_at);
        }
        char c = lx->text[lx->pos++];
        if (c == quote) {
            if (lx->pos < lx->len && lx->text[lx->pos] == quote) {
                value[n++] = quote;
                lx->pos++;
                continue;
            }
            break;
        }
        if (c == '\\' && lx->pos < lx->len) {
            char e = lx->text[lx->pos++];
            switch (e) {
            case '0':
                free(value);
                return nn_err_set(err, EINVAL, "REQUIRE: NUL byte in the string after %s", what);
            case 'b':
                value[n++] = '\b';
                break;
            case 'n':
                value[n++] = '\n';
                break;
            case 'r':
                value[n++] = '\r';
                break;
            case 't':
                value[n++] = '\t';
                break;
            case 'Z':
                value[n++] = '\x1a';
                break;
            case '%':
            case '_':
                /* MySQL keeps the backslash of \% and \_ (they are LIKE escapes). */
                value[n++] = '\\';
                value[n++] = e;
                break;
            default:
                value[n++] = e;
                break;
            }
            continue;
        }
        if (c == '\0') {
            free(value);
            return nn_err_set(err, EINVAL, "REQUIRE: NUL byte in the string after %s", what);
        }
        value[n++] = c;
    }
    value[n] = '\0';
    *out = value;
    return 0;
}

int nn_ssl_require_parse(const char *text, size_t len, nn_ssl_require *out, size_t *consumed,
                         nn_err *err) {
    memset(out, 0, sizeof(*out));
    if (text == NULL) {
        return nn_err_set(err, EINVAL, "REQUIRE: no text");
    }
    lexer lx = {.text = text, .len = len, .pos = 0};
    size_t start;
    size_t n = peek_word(&lx, &start);
    static const char *const first_expected = "NONE, SSL, X509, CIPHER, ISSUER or SUBJECT";
    nn_ssl_type simple = NN_SSL_SPECIFIED;
    if (word_is(&lx, start, n, "NONE")) {
        simple = NN_SSL_NONE;
    } else if (word_is(&lx, start, n, "SSL")) {
        simple = NN_SSL_ANY;
    } else if (word_is(&lx, start, n, "X509")) {
        simple = NN_SSL_X509;
    }
    if (simple != NN_SSL_SPECIFIED) {
        lx.pos = start + n;
        size_t end = lx.pos;
        size_t next;
        size_t m = peek_word(&lx, &next);
        if (word_is(&lx, next, m, "AND") || word_is(&lx, next, m, "CIPHER") ||
            word_is(&lx, next, m, "ISSUER") || word_is(&lx, next, m, "SUBJECT")) {
            return nn_err_set(err, EINVAL,
                              "REQUIRE: %.*s cannot be combined with other options (offset %zu)",
                              (int)n, text + start, next);
        }
        out->type = simple;
        if (consumed != NULL) {
            *consumed = end;
        }
        return 0;
    }

    out->type = NN_SSL_SPECIFIED;
    size_t end = 0;
    bool need_item = true; /* at the start and after AND */
    for (;;) {
        n = peek_word(&lx, &start);
        char **slot = NULL;
        const char *what = NULL;
        if (word_is(&lx, start, n, "CIPHER")) {
            slot = &out->cipher;
            what = "CIPHER";
        } else if (word_is(&lx, start, n, "ISSUER")) {
            slot = &out->issuer;
            what = "ISSUER";
        } else if (word_is(&lx, start, n, "SUBJECT")) {
            slot = &out->subject;
            what = "SUBJECT";
        }
        if (slot == NULL) {
            if (need_item) {
                int rc = syntax_error(err, &lx, start,
                                      end == 0 ? first_expected : "CIPHER, ISSUER or SUBJECT");
                nn_ssl_require_clear(out);
                return rc;
            }
            break; /* the clause ended at the last string */
        }
        if (*slot != NULL) {
            nn_ssl_require_clear(out);
            return nn_err_set(err, EINVAL, "REQUIRE: %s given twice (offset %zu)", what, start);
        }
        lx.pos = start + n;
        int rc = read_string(&lx, what, slot, err);
        if (rc < 0) {
            nn_ssl_require_clear(out);
            return rc;
        }
        end = lx.pos;
        need_item = false;
        size_t and_start;
        size_t m = peek_word(&lx, &and_start);
        if (word_is(&lx, and_start, m, "AND")) {
            lx.pos = and_start + m;
            need_item = true;
        } else {
            lx.pos = end;
        }
    }
    if (consumed != NULL) {
        *consumed = end;
    }
    return 0;
}

/* ------------------------------------------------------------ REQUIRE print */

typedef struct printer {
    char *out;
    size_t cap;
    size_t len; /* what would have been written */
} printer;

static void put_char(printer *p, char c) {
    if (p->len + 1 < p->cap) {
        p->out[p->len] = c;
    }
    p->len++;
}

static void put_str(printer *p, const char *s) {
    for (; *s != '\0'; s++) {
        put_char(p, *s);
    }
}

/* Quoted as MySQL's SHOW CREATE USER quotes strings (backslash escapes), so that parsing
 * the output gives the same value back. */
static void put_quoted(printer *p, const char *s) {
    put_char(p, '\'');
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\'':
            put_str(p, "\\'");
            break;
        case '\\':
            put_str(p, "\\\\");
            break;
        case '\n':
            put_str(p, "\\n");
            break;
        case '\r':
            put_str(p, "\\r");
            break;
        case '\x1a':
            put_str(p, "\\Z");
            break;
        default:
            put_char(p, *s);
            break;
        }
    }
    put_char(p, '\'');
}

size_t nn_ssl_require_print(const nn_ssl_require *req, char *out, size_t cap) {
    printer p = {.out = out, .cap = cap, .len = 0};
    switch (req->type) {
    case NN_SSL_NONE:
        put_str(&p, "REQUIRE NONE");
        break;
    case NN_SSL_ANY:
        put_str(&p, "REQUIRE SSL");
        break;
    case NN_SSL_X509:
        put_str(&p, "REQUIRE X509");
        break;
    case NN_SSL_SPECIFIED:
        if (req->subject == NULL && req->issuer == NULL && req->cipher == NULL) {
            /* Decides exactly like X509 (a verified certificate), so it prints as X509. */
            put_str(&p, "REQUIRE X509");
            break;
        }
        /* MySQL 8's order and spacing: SUBJECT, ISSUER, CIPHER, no AND. */
        put_str(&p, "REQUIRE");
        if (req->subject != NULL) {
            put_str(&p, " SUBJECT ");
            put_quoted(&p, req->subject);
        }
        if (req->issuer != NULL) {
            put_str(&p, " ISSUER ");
            put_quoted(&p, req->issuer);
        }
        if (req->cipher != NULL) {
            put_str(&p, " CIPHER ");
            put_quoted(&p, req->cipher);
        }
        break;
    }
    if (cap > 0) {
        out[p.len < cap ? p.len : cap - 1] = '\0';
    }
    return p.len;
}

int nn_ssl_require_copy(nn_ssl_require *dst, const nn_ssl_require *src) {
    nn_ssl_require copy = {.type = src->type};
    const char *from[3] = {src->cipher, src->issuer, src->subject};
    char **to[3] = {&copy.cipher, &copy.issuer, &copy.subject};
    for (int i = 0; i < 3; i++) {
        if (from[i] != NULL) {
            *to[i] = strdup(from[i]);
            if (*to[i] == NULL) {
                nn_ssl_require_clear(&copy);
                return -ENOMEM;
            }
        }
    }
    *dst = copy;
    return 0;
}

void nn_ssl_require_clear(nn_ssl_require *req) {
    if (req == NULL) {
        return;
    }
    free(req->cipher);
    free(req->issuer);
    free(req->subject);
    memset(req, 0, sizeof(*req));
}

/* ------------------------------------------------------------ REQUIRE check */

static int deny(char *why, size_t why_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int deny(char *why, size_t why_cap, const char *fmt, ...) {
    if (why != NULL && why_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_cap, fmt, ap);
        va_end(ap);
    }
    return -EACCES;
}

/* MySQL's acl_check_ssl: a certificate counts only if presented AND verified (OpenSSL's
 * verify result is X509_V_OK also when no certificate was sent, hence both). */
static int need_verified_cert(const nn_tls_facts *f, const char *what, char *why, size_t why_cap) {
    if (!f->peer_cert_presented) {
        return deny(why, why_cap, "REQUIRE %s: the client presented no certificate", what);
    }
    if (!f->peer_cert_verified || f->verify_result != X509_V_OK) {
        return deny(why, why_cap, "REQUIRE %s: the client certificate did not verify: %s", what,
                    X509_verify_cert_error_string(f->verify_result));
    }
    return 0;
}

int nn_ssl_require_check(const nn_ssl_require *req, const nn_tls_facts *facts, char *why,
                         size_t why_cap) {
    if (why != NULL && why_cap > 0) {
        why[0] = '\0';
    }
    if (req->type == NN_SSL_NONE) {
        return 0;
    }
    static const char *const names[] = {"NONE", "SSL", "X509", "SPECIFIED"};
    const char *what = names[req->type & 3];
    if (!facts->encrypted) {
        return deny(why, why_cap, "REQUIRE %s: the session is not encrypted", what);
    }
    if (req->type == NN_SSL_ANY) {
        return 0;
    }
    int rc = need_verified_cert(facts, what, why, why_cap);
    if (rc < 0 || req->type == NN_SSL_X509) {
        return rc;
    }
    if (req->cipher != NULL && strcmp(req->cipher, facts->cipher) != 0) {
        return deny(why, why_cap, "REQUIRE CIPHER '%s': the session uses '%s'", req->cipher,
                    facts->cipher);
    }
    if (req->issuer != NULL && strcmp(req->issuer, facts->peer_issuer) != 0) {
        return deny(why, why_cap, "REQUIRE ISSUER '%s': the certificate's issuer is '%s'",
                    req->issuer, facts->peer_issuer);
    }
    if (req->subject != NULL && strcmp(req->subject, facts->peer_subject) != 0) {
        return deny(why, why_cap, "REQUIRE SUBJECT '%s': the certificate's subject is '%s'",
                    req->subject, facts->peer_subject);
    }
    return 0;
}

/* ------------------------------------------------------------ node identity */

/* peer_sans is "DNS:n1,DNS:localhost,IP:127.0.0.1": compare each value after its tag. */
static bool san_names(const char *sans, const char *name) {
    size_t want = strlen(name);
    const char *p = sans;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        const char *value = colon != NULL ? colon + 1 : p;
        size_t vlen = n - (size_t)(value - p);
        if (vlen == want && memcmp(value, name, want) == 0) {
            return true;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    return false;
}

int nn_security_identity_check(const nn_tls_facts *facts, const char *node_name, nn_err *err) {
    if (node_name == NULL || node_name[0] == '\0') {
        return nn_err_set(err, EINVAL, "identity: no node name to check against");
    }
    if (!facts->encrypted) {
        return nn_err_set(err, EACCES, "identity: the session is not encrypted, node %s unproven",
                          node_name);
    }
    if (!facts->peer_cert_presented) {
        return nn_err_set(err, EACCES, "identity: the peer presented no certificate (expected %s)",
                          node_name);
    }
    if (!facts->peer_cert_verified || facts->verify_result != X509_V_OK) {
        return nn_err_set(err, EACCES, "identity: the peer certificate did not verify: %s",
                          X509_verify_cert_error_string(facts->verify_result));
    }
    if (strcmp(facts->peer_cn, node_name) == 0 || san_names(facts->peer_sans, node_name)) {
        return 0;
    }
    return nn_err_set(err, EACCES,
                      "identity: expected node %s, the peer certificate names CN=%s SAN=%s",
                      node_name, facts->peer_cn[0] != '\0' ? facts->peer_cn : "(none)",
                      facts->peer_sans[0] != '\0' ? facts->peer_sans : "(none)");
}

bool nn_security_subject_allowed(const char *subject, const char *const *allowed, size_t n) {
    if (subject == NULL || subject[0] == '\0' || allowed == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (allowed[i] != NULL && strcmp(allowed[i], subject) == 0) {
            return true;
        }
    }
    return false;
}
