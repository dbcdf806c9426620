package dev.pgmemo.it.cache;

import dev.pgmemo.cache.store.RedisDeployment;

/** {@link TwoInstancesIT} with both instances on a Redis Cluster of three masters ({@code redis-cluster://}). */
class TwoInstancesOnRedisClusterIT extends TwoInstancesIT {
    private RedisDeployment cluster;

    @Override
    protected String storeUrl() throws Exception {
        cluster = RedisDeployment.cluster();
        return cluster.uri();
    }

    @Override
    protected void stopStore() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }
}
