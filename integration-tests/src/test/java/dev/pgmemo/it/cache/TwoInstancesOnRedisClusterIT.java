package dev.pgmemo.it.cache;

import dev.pgmemo.cache.store.RedisDeployment;

/** {@link TwoInstancesIT} with both instances on a Redis Cluster of three masters ({@code redis-cluster://}). */
class TwoInstancesOnRedisClusterIT extends TwoInstancesIT {
    @Override
    protected RedisDeployment startDeployment() throws Exception {
        return RedisDeployment.cluster();
    }
}
