/* node/catalog_sync_internal.h: private to node/. The user catalog shared by the cluster:
 * mysql/ says what changed and merges what others changed; this carries it over the mesh.
 *
 *   push: every committed local change goes to every peer at once ("catalog.apply",
 *         asynchronous, from the catalog thread; a peer that misses it catches up below).
 *   pull: a sync thread asks each peer for its catalog digest ("catalog.digest") every
 *         NN_CATALOG_SYNC_MS and right after start; when the digests differ it fetches the
 *         peer's snapshot ("catalog.snapshot") and merges it, so a node that was down or
 *         missed a push converges within one round after its peer is reachable. Both sides
 *         pull, so the newer rows of each reach the other.
 * The three services are for peers only (tool clients are refused). */
#ifndef NODENET_NODE_CATALOG_SYNC_INTERNAL_H
#define NODENET_NODE_CATALOG_SYNC_INTERNAL_H

#include "node/node.h"

#define NN_CATALOG_SYNC_MS 2000

typedef struct nn_catalog_sync nn_catalog_sync;

/* Before nn_rpc_start(): registers the services and the catalog listener. mysql and rpc
 * are borrowed and must outlive it; cfg is read now (the peers are copied). */
nn_catalog_sync *nn_catalog_sync_new(nn_mysql_server *mysql, nn_rpc *rpc, const nn_config *cfg,
                                     nn_err *err);
/* After nn_rpc_start(): starts the sync thread. */
int nn_catalog_sync_start(nn_catalog_sync *sync, nn_err *err);
/* Any thread: when (unix seconds) this node's digest last equalled peer's; 0 = never. */
int64_t nn_catalog_sync_agreed_unix(nn_catalog_sync *sync, const char *peer);
/* Before nn_rpc_goodbye(): stops the sync thread and the pushes. Idempotent; NULL ok. */
void nn_catalog_sync_stop(nn_catalog_sync *sync);
/* Before nn_rpc_free() (after the server has stopped): waits until every request handed to
 * the catalog thread has been answered, then frees. NULL ok. */
void nn_catalog_sync_free(nn_catalog_sync *sync);

#endif
