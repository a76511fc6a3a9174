/* node/catalog_sync_internal.h: private to node/. The user catalog shared by the cluster:
 * mysql/ says what changed and merges what others changed; this carries it over the mesh.
 *
 *   push: every committed local change goes to every peer at once ("catalog.apply",
 *         asynchronous, from the catalog thread; a peer that misses it catches up below).
 *   pull: a sync thread asks a peer for its catalog digest ("catalog.digest") when the
 *         channel to it becomes ready (the mesh's ready event: after our start, after the
 *         peer's restart, after any outage) and when a push to it failed; when the digests
 *         differ it fetches the peer's snapshot ("catalog.snapshot") and merges it. So a
 *         node that was down or missed a push converges as soon as its peer is reachable,
 *         with no polling. Both sides pull, so the newer rows of each reach the other.
 *   safety net: every NN_CATALOG_SAFETY_MS every peer is pulled anyway (one digest call
 *         each when nothing differs). It covers what no event reports: a push that the
 *         peer applied late or lost after answering, a digest call that timed out on a
 *         loaded peer while the channel stayed up.
 * The three services are for peers only (tool clients are refused). */
#ifndef NODENET_NODE_CATALOG_SYNC_INTERNAL_H
#define NODENET_NODE_CATALOG_SYNC_INTERNAL_H

#include "node/node.h"

#define NN_CATALOG_SAFETY_MS 30000

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

/* Any thread (the channel's worker): the channel to peer became ready; pull it soon. */
void nn_catalog_sync_peer_ready(nn_catalog_sync *sync, const char *peer);

#endif
