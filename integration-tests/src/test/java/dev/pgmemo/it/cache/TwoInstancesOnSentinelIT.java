package dev.pgmemo.it.cache;

import dev.pgmemo.cache.store.RedisDeployment;

/** {@link TwoInstancesIT} with both instances on a master found through Sentinel ({@code redis-sentinel://}). */
class TwoInstancesOnSentinelIT extends TwoInstancesIT {
    private RedisDeployment sentinel;

    @Override
    protected String storeUrl() throws Exception {
        sentinel = RedisDeployment.sentinel();
        return sentinel.uri();
    }

    @Override
    protected void stopStore() throws Exception {
        if (sentinel != null) {
            sentinel.close();
        }
    }
}
