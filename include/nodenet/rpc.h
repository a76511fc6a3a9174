/* nodenet/rpc.h: the RPC mesh as an engine uses it.
 *
 * A node keeps one persistent channel to every other node of its cluster. A call names a
 * peer and a method ("engine.apply"), carries bytes (raw, or a protobuf-c message), and
 * ends in exactly one outcome: the reply or a clear error (deadline, peer down, refused,
 * no such method, ...). None is dropped, none outlives its deadline.
 *
 * Threads: nn_rpc_call*, nn_rpc_reply* may be called from any thread. Handlers and call
 * completions run on the library's worker threads and must not block; a handler may keep
 * its request and reply later from another thread.
 */
#ifndef NODENET_PUBLIC_RPC_H
#define NODENET_PUBLIC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <nodenet/nodenet.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_rpc nn_rpc;

/* Borrowed until nn_node_free(). */
NN_API nn_rpc *nn_node_rpc(nn_node *node);

/* Every outcome of a call. The values travel on the wire and never change. */
typedef enum nn_rpc_status {
    NN_RPC_OK = 0,
    NN_RPC_E_DEADLINE = 1,  /* the deadline passed before a reply */
    NN_RPC_E_PEER_DOWN = 2, /* no channel to the peer within the deadline, or it died */
    NN_RPC_E_REFUSED = 3,   /* the peer refused us (hello, TLS policy, identity) */
    NN_RPC_E_CLOSED = 4,    /* the local node is stopping */
    NN_RPC_E_REMOTE = 5,    /* the remote handler replied with an error */
    NN_RPC_E_NO_METHOD = 6, /* no such method on the peer */
    NN_RPC_E_DENIED = 7,    /* the caller may not call that method */
    NN_RPC_E_TOO_BIG = 8,   /* request or reply over the frame limit */
    NN_RPC_E_INVALID = 9,   /* bad argument (unknown peer, unpackable message, ...) */
} nn_rpc_status;
/* "ok", "deadline", "peer_down", ... */
NN_API const char *nn_rpc_status_name(nn_rpc_status status);

/* ------------------------------------------------------------------- calls */

/* A call's outcome, borrowed for the duration of the completion callback. */
typedef struct nn_rpc_result nn_rpc_result;
NN_API nn_rpc_status nn_rpc_result_status(const nn_rpc_result *result);
/* The remote handler's code when the status is NN_RPC_E_REMOTE; 0 otherwise. */
NN_API uint32_t nn_rpc_result_remote_code(const nn_rpc_result *result);
/* "" on success; otherwise one line saying why. */
NN_API const char *nn_rpc_result_error(const nn_rpc_result *result);
NN_API const uint8_t *nn_rpc_result_payload(const nn_rpc_result *result, size_t *len);
/* The reply unpacked as a message of type desc (free it with
 * protobuf_c_message_free_unpacked(msg, NULL)); NULL when the call failed or the reply
 * does not unpack. */
NN_API ProtobufCMessage *nn_rpc_result_unpack(const nn_rpc_result *result,
                                              const ProtobufCMessageDescriptor *desc);

/* Runs exactly once, on a worker thread. */
typedef void (*nn_rpc_call_fn)(const nn_rpc_result *result, void *arg);

/* Calls method on node peer with payload (copied). timeout_ms 0 = the configured call
 * timeout. done runs exactly once, possibly before this returns (e.g. NN_RPC_E_INVALID
 * for an unknown peer). Returns 0, or negative when done has already run with the error. */
NN_API int nn_rpc_call(nn_rpc *rpc, const char *peer, const char *method, const void *payload,
                       size_t len, uint64_t timeout_ms, nn_rpc_call_fn done, void *arg);
/* The same with a protobuf-c message packed as the payload. */
NN_API int nn_rpc_call_message(nn_rpc *rpc, const char *peer, const char *method,
                               const ProtobufCMessage *request, uint64_t timeout_ms,
                               nn_rpc_call_fn done, void *arg);
/* Blocking, for the embedder's threads (-EDEADLK on a worker). On NN_RPC_OK *reply is a
 * malloc'd copy of the reply (free() it; NULL when empty). Returns the status; err says
 * why otherwise. */
NN_API nn_rpc_status nn_rpc_call_sync(nn_rpc *rpc, const char *peer, const char *method,
                                      const void *payload, size_t len, uint64_t timeout_ms,
                                      uint8_t **reply, size_t *reply_len, nn_err *err);

/* ---------------------------------------------------------------- services */

/* One incoming call. Owned by the handler until it is answered. */
typedef struct nn_rpc_request nn_rpc_request;

/* Runs on the worker that received the call. It must answer the request exactly once
 * with nn_rpc_reply*() or nn_rpc_reply_error(), now or later, from any thread. */
typedef void (*nn_rpc_handler)(nn_rpc_request *req, void *arg);

/* Before nn_node_start(). Registers method for the cluster's nodes (tool clients are
 * refused). -EEXIST if taken; the "node." and "catalog." prefixes are the library's. */
NN_API int nn_rpc_service_register(nn_rpc *rpc, const char *method, nn_rpc_handler handler,
                                   void *arg);

/* Registers every method of a protobuf-c service (generated by protoc-c with
 * `option optimize_for`-independent service code) as "<package.Service>.<Method>", e.g.
 * "minidb.Replica.Apply". For each call the request is unpacked with the method's input
 * descriptor and passed to service->invoke() on the worker; the closure it is given may be
 * called then or later, from any thread, with the output message (packed and sent), or
 * with NULL (answered NN_RPC_E_REMOTE, code 1). The input message is freed when invoke()
 * returns: copy what a later answer needs. service is borrowed until nn_node_free(). */
NN_API int nn_rpc_service_register_protobuf(nn_rpc *rpc, ProtobufCService *service);
/* The method name a peer calls for method_index of service_desc, written to out
 * ("<package.Service>.<Method>"); returns the length, or negative if it does not fit. */
NN_API int nn_rpc_protobuf_method_name(const ProtobufCServiceDescriptor *service_desc,
                                       unsigned method_index, char *out, size_t cap);

/* Borrowed until the request is answered. */
NN_API const uint8_t *nn_rpc_request_payload(const nn_rpc_request *req, size_t *len);
NN_API const char *nn_rpc_request_method(const nn_rpc_request *req);
/* The calling node's name. */
NN_API const char *nn_rpc_request_caller(const nn_rpc_request *req);
/* CLOCK_MONOTONIC nanoseconds after which the caller no longer waits. */
NN_API uint64_t nn_rpc_request_deadline_ns(const nn_rpc_request *req);

/* Any thread. Each ends the request (data copied) and frees it. */
NN_API void nn_rpc_reply(nn_rpc_request *req, const void *data, size_t len);
NN_API void nn_rpc_reply_message(nn_rpc_request *req, const ProtobufCMessage *reply);
NN_API void nn_rpc_reply_error(nn_rpc_request *req, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
