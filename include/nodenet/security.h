/* nodenet/security.h: TLS facts an engine may read, through accessors.
 *
 * Two kinds of facts: those of this node's own certificate (nn_node_cert_*), and those of
 * one TLS session (an nn_tls_facts handed out by the MySQL face for a client session).
 */
#ifndef NODENET_PUBLIC_SECURITY_H
#define NODENET_PUBLIC_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nodenet/nodenet.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ this node's certificate */

/* false when the node runs without certificates (then the others return 0 / ""). */
NN_API bool nn_node_tls_configured(const nn_node *node);
/* Grows by one with each successful load of the certificates (start, reload, watcher). */
NN_API uint64_t nn_node_cert_generation(const nn_node *node);
/* Unix seconds. */
NN_API int64_t nn_node_cert_not_after(const nn_node *node);
/* Subject and issuer as OpenSSL prints them ("/C=CN/O=acme/CN=n1"), copied to out
 * (truncated to cap, NUL-terminated); returns the full length. */
NN_API size_t nn_node_cert_subject(const nn_node *node, char *out, size_t cap);
NN_API size_t nn_node_cert_issuer(const nn_node *node, char *out, size_t cap);

/* ------------------------------------------------------------ one TLS session */

/* Borrowed from the session that handed it out, for as long as that session. */
typedef struct nn_tls_facts nn_tls_facts;

NN_API bool nn_tls_facts_encrypted(const nn_tls_facts *facts);
/* "TLSv1.3"; "" without TLS. */
NN_API const char *nn_tls_facts_version(const nn_tls_facts *facts);
/* OpenSSL's name: "TLS_AES_128_GCM_SHA256"; "" without TLS. */
NN_API const char *nn_tls_facts_cipher(const nn_tls_facts *facts);
/* The peer presented a certificate and it verified against the cluster CA. */
NN_API bool nn_tls_facts_peer_verified(const nn_tls_facts *facts);
/* The peer certificate's subject, issuer and commonName; "" without one. */
NN_API const char *nn_tls_facts_peer_subject(const nn_tls_facts *facts);
NN_API const char *nn_tls_facts_peer_issuer(const nn_tls_facts *facts);
NN_API const char *nn_tls_facts_peer_cn(const nn_tls_facts *facts);
/* Unix seconds; 0 without a peer certificate. */
NN_API int64_t nn_tls_facts_peer_not_after(const nn_tls_facts *facts);

#ifdef __cplusplus
}
#endif

#endif
