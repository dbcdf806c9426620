package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.EventExecutor;
import java.net.UnixDomainSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The contract for a Redis store whose connections live on the caller's event loops, as in pgmemo:
 * every call is made from one of the loops, as a session would make it. The loops are NIO's, a transport
 * Lettuce would not pick by itself where epoll is available: the store uses the loops' own channel classes.
 */
class RedisStoreOnEventLoopsTest extends CacheStoreContract {

  private static EventLoopGroup loops;

  private final String prefix = "pgmemo-test-" + UUID.randomUUID() + ":";
  private final List<RedisStore> opened = new ArrayList<>();

  @BeforeAll
  static void startLoops() {
    loops = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
  }

  @AfterAll
  static void stopLoops() {
    loops.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @Override
  protected CacheStore openStore() {
    return new OnLoops(open());
  }

  @Override
  protected CacheStore openPeer() {
    return new OnLoops(open());
  }

  /** The Redis the stores connect to. */
  protected String redisUri() {
    return RedisStoreTest.SHARED_REDIS;
  }

  /** Deletes the test's keys from {@link #redisUri()}. */
  protected void deleteKeys(String prefix) throws Exception {
    RedisServerProcess.deleteKeys(RedisStoreTest.SHARED_REDIS_PORT, prefix);
  }

  private RedisStore open() {
    RedisStore redis = RedisStoreTest.connected(new RedisStore(redisUri(), prefix, Duration.ofSeconds(2),
        new RedisStore.Loops(loops, NioSocketChannel.class, NioDomainSocketChannel.class,
            path -> UnixDomainSocketAddress.of(path))));
    opened.add(redis);
    return redis;
  }

  @AfterEach
  void deleteThisTestsKeys() throws Exception {
    for (RedisStore r : opened) {
      r.close();
    }
    deleteKeys(prefix);
  }

  @Test
  void keepsOneConnectionPerLoopAndCompletesOnTheCallersLoop() throws Exception {
    RedisStore redis = ((OnLoops) store).redis;
    assertThat(redis.connections()).isEqualTo(2);
    byte[] key = entryKey();
    for (EventExecutor e : loops) {
      EventLoop loop = (EventLoop) e;
      for (int i = 0; i < 20; i++) {
        CompletableFuture<Thread> completedOn = new CompletableFuture<>();
        loop.execute(() -> redis.lookup(key, tokenKeys("orders"))
            .whenComplete((l, err) -> completedOn.complete(Thread.currentThread())));
        assertThat(completedOn.get(2, TimeUnit.SECONDS)).satisfies(t -> assertThat(loop.inEventLoop(t)).isTrue());
      }
    }
  }

  @Test
  void callsFromOtherThreadsStillWork() throws Exception {
    RedisStore redis = ((OnLoops) store).redis;
    byte[] key = entryKey();
    join(redis.put(key, bytes("rows"), Duration.ofMinutes(1)));
    assertThat(join(redis.lookup(key, tokenKeys("orders"))).entry()).isEqualTo(bytes("rows"));
  }

  @Test
  void closingTheStoreLeavesTheLoopsRunning() {
    RedisStore redis = ((OnLoops) store).redis;
    redis.close();
    assertThat(loops.isShuttingDown()).isFalse();
    assertThat(redis.lookup(entryKey(), tokenKeys("orders"))).isCompletedExceptionally();
  }

  /** Makes every call on one of the loops, in turn. */
  private static final class OnLoops implements CacheStore {
    final RedisStore redis;
    private final AtomicInteger next = new AtomicInteger();

    OnLoops(RedisStore redis) {
      this.redis = redis;
    }

    private <T> CompletableFuture<T> onLoop(Supplier<CompletableFuture<T>> call) {
      List<EventExecutor> all = new ArrayList<>();
      loops.forEach(all::add);
      EventExecutor loop = all.get(Math.floorMod(next.getAndIncrement(), all.size()));
      CompletableFuture<T> out = new CompletableFuture<>();
      loop.execute(() -> call.get().whenComplete((v, e) -> {
        if (e != null) {
          out.completeExceptionally(e);
        } else {
          out.complete(v);
        }
      }));
      return out;
    }

    @Override
    public CompletableFuture<Lookup> lookup(byte[] entryKey, List<byte[]> tokenKeys) {
      return onLoop(() -> redis.lookup(entryKey, tokenKeys));
    }

    @Override
    public CompletableFuture<List<byte[]>> tokens(List<byte[]> tokenKeys) {
      return onLoop(() -> redis.tokens(tokenKeys));
    }

    @Override
    public CompletableFuture<Void> put(byte[] entryKey, byte[] entry, Duration ttl) {
      RedisStore.positiveTtl(ttl); // thrown to the caller, as RedisStore does
      return onLoop(() -> redis.put(entryKey, entry, ttl));
    }

    @Override
    public CompletableFuture<Void> bump(List<byte[]> tokenKeys) {
      return onLoop(() -> redis.bump(tokenKeys));
    }

    @Override
    public CompletableFuture<Void> invalidateAll() {
      return onLoop(redis::invalidateAll);
    }

    @Override
    public String describe() {
      return redis.describe();
    }

    @Override
    public void close() {
      redis.close();
    }
  }
}
