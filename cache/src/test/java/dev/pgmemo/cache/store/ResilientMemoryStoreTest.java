package dev.pgmemo.cache.store;

import java.time.Duration;

/** The wrapper must keep the contract of the store it wraps. */
class ResilientMemoryStoreTest extends CacheStoreContract {

  @Override
  protected CacheStore openStore() {
    return new ResilientStore(new MemoryStore(64L * 1024 * 1024), Duration.ofSeconds(2));
  }
}
