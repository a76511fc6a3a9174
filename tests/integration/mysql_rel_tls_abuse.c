/* tests/integration/mysql_rel_tls_abuse.c: a TLS client that does to a nodenet MySQL port
 * what the server must refuse (RELIABILITY.md case 10): a client-initiated renegotiation
 * (TLS 1.2) and a KeyUpdate flood (TLS 1.3). Its own executable, linking the system OpenSSL 3
 * as real MySQL clients do: BoringSSL, which nodenet links, cannot start either as a client.
 *
 *   mysql_rel_tls_abuse renegotiate|keyupdate PORT CA_FILE
 *
 * Exit 0 when the server refused (an alert or a close ended the connection), 1 when it went
 * along, 2 on a usage or set-up error. Prints one line saying what happened. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CAPS_SSLREQUEST (0x1u | 0x200u | 0x800u | 0x8000u | 0x80000u)

static int read_full(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) {
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Connects, reads the greeting and sends an SSLRequest: TLS comes next. */
static int mysql_connect_for_tls(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        return -1;
    }
    uint8_t head[4];
    static uint8_t body[1 << 16];
    if (read_full(fd, head, 4) < 0) {
        close(fd);
        return -1;
    }
    size_t len = head[0] | (size_t)head[1] << 8 | (size_t)head[2] << 16;
    if (len > sizeof(body) || read_full(fd, body, len) < 0 || body[0] != 10) {
        close(fd);
        return -1;
    }
    uint8_t req[4 + 32] = {32, 0, 0, 1};
    uint32_t caps = CAPS_SSLREQUEST;
    uint32_t max_packet = 1u << 24;
    memcpy(req + 4, &caps, 4); /* little-endian host, as the wire wants */
    memcpy(req + 8, &max_packet, 4);
    req[12] = 45;
    if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req)) {
        close(fd);
        return -1;
    }
    return fd;
}

static SSL *tls_connect(int fd, const char *ca, int version) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "n1");
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* True when the server has ended the connection (alert, close or reset). */
static int server_ended(SSL *ssl) {
    char buf[256];
    int r = SSL_read(ssl, buf, sizeof(buf));
    return r <= 0;
}

static int renegotiate(unsigned port, const char *ca) {
    int fd = mysql_connect_for_tls(port);
    if (fd < 0) {
        printf("setup: no MySQL greeting\n");
        return 2;
    }
    SSL *ssl = tls_connect(fd, ca, TLS1_2_VERSION);
    if (ssl == NULL) {
        /* A server without TLS 1.2 cannot be asked to renegotiate at all. */
        printf("refused: TLS 1.2 itself is refused, so no renegotiation can start\n");
        close(fd);
        return 0;
    }
    int asked = SSL_renegotiate(ssl);
    int done = asked == 1 ? SSL_do_handshake(ssl) : 0;
    unsigned long e = ERR_peek_last_error();
    int ended = server_ended(ssl);
    printf("%s: SSL_renegotiate=%d handshake=%d server_ended=%d (%s)\n",
           done == 1 && !ended ? "ACCEPTED" : "refused", asked, done, ended,
           e ? ERR_reason_error_string(e) : "no error");
    SSL_free(ssl);
    close(fd);
    return done == 1 && !ended ? 1 : 0;
}

static int keyupdate_flood(unsigned port, const char *ca) {
    int fd = mysql_connect_for_tls(port);
    if (fd < 0) {
        printf("setup: no MySQL greeting\n");
        return 2;
    }
    SSL *ssl = tls_connect(fd, ca, TLS1_3_VERSION);
    if (ssl == NULL) {
        printf("setup: TLS 1.3 handshake failed\n");
        close(fd);
        return 2;
    }
    int sent = 0;
    for (; sent < 1000; sent++) {
        if (SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 || SSL_do_handshake(ssl) != 1) {
            break;
        }
    }
    int ended = server_ended(ssl);
    unsigned long e = ERR_peek_last_error();
    printf("%s: %d KeyUpdates sent before the write side failed, server_ended=%d (%s)\n",
           ended ? "refused" : "ACCEPTED", sent, ended,
           e ? ERR_reason_error_string(e) : "no error");
    SSL_free(ssl);
    close(fd);
    return ended ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s renegotiate|keyupdate PORT CA_FILE\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    unsigned port = (unsigned)atoi(argv[2]);
    if (strcmp(argv[1], "renegotiate") == 0) {
        return renegotiate(port, argv[3]);
    }
    if (strcmp(argv[1], "keyupdate") == 0) {
        return keyupdate_flood(port, argv[3]);
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
