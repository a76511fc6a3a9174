/* A stand-in for libFuzzer's main so that every fuzz target also runs in the ordinary
 * test suite (and under the sanitizers) with gcc: it feeds the seed corpus, then a fixed
 * number of deterministic mutations of it (bit flips, truncations, splices, repeats).
 *
 *   fuzz_<target> [-runs=N] <corpus dir or file>...
 *
 * With -DNODENET_FUZZ=ON and clang the same targets link with libFuzzer instead. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seed {
    uint8_t *data;
    size_t len;
} seed;

static seed *seeds;
static size_t seed_count;

static void add_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return;
    }
    uint8_t *data = malloc(1 << 20);
    size_t len = fread(data, 1, 1 << 20, f);
    fclose(f);
    seeds = realloc(seeds, (seed_count + 1) * sizeof(*seeds));
    seeds[seed_count++] = (seed){data, len};
}

static void add_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz driver: %s: not found\n", path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        add_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
        add_file(full);
    }
    closedir(d);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv) {
    long runs = 20000;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0) {
            runs = atol(argv[i] + 6);
        } else {
            add_path(argv[i]);
        }
    }
    if (seed_count == 0) {
        add_file("/dev/null");
    }
    for (size_t i = 0; i < seed_count; i++) {
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
    }
    uint8_t *buf = malloc(1 << 21);
    for (long r = 0; r < runs; r++) {
        const seed *s = &seeds[next_random() % seed_count];
        size_t len = s->len;
        memcpy(buf, s->data, len);
        int mutations = 1 + (int)(next_random() % 4);
        for (int m = 0; m < mutations; m++) {
            switch (next_random() % 5) {
            case 0: /* flip a bit */
                if (len > 0) {
                    buf[next_random() % len] ^= (uint8_t)(1u << (next_random() % 8));
                }
                break;
            case 1: /* truncate */
                len = len > 0 ? next_random() % (len + 1) : 0;
                break;
            case 2: /* set a byte to an edge value */
                if (len > 0) {
                    static const uint8_t edges[] = {0, 0x7f, 0x80, 0xff, '\'', '\\', ':'};
                    buf[next_random() % len] = edges[next_random() % sizeof(edges)];
                }
                break;
            case 3: { /* splice in part of another seed */
                const seed *o = &seeds[next_random() % seed_count];
                if (o->len > 0) {
                    size_t from = next_random() % o->len;
                    size_t n = next_random() % (o->len - from + 1);
                    size_t at = len > 0 ? next_random() % len : 0;
                    if (at + n < (1 << 20)) {
                        memcpy(buf + at, o->data + from, n);
                        if (at + n > len) {
                            len = at + n;
                        }
                    }
                }
                break;
            }
            default: /* repeat a slice at the end */
                if (len > 0 && len < (1 << 20)) {
                    size_t from = next_random() % len;
                    size_t n = next_random() % (len - from + 1);
                    memcpy(buf + len, buf + from, n);
                    len += n;
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("fuzz driver: %zu seeds, %ld mutated runs, no crash\n", seed_count, runs);
    free(buf);
    for (size_t i = 0; i < seed_count; i++) {
        free(seeds[i].data);
    }
    free(seeds);
    return 0;
}
