package dev.pgmemo.it.cache;

import dev.pgmemo.cache.store.RedisDeployment;

/** {@link TwoInstancesIT} with both instances on a master found through Sentinel ({@code redis-sentinel://}). */
class TwoInstancesOnSentinelIT extends TwoInstancesIT {
    @Override
    protected RedisDeployment startDeployment() throws Exception {
        return RedisDeployment.sentinel();
    }
}
