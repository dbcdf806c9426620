package dev.pgmemo.cache.store;

import java.security.SecureRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fresh version tokens: 16 bytes that no earlier token of this process, and almost surely of any other
 * process, had.
 *
 * <p>A token must never come back to an earlier value, or entries that recorded it would be served
 * again after a write. So the low half is a bijective mix of a per-process counter (never repeats
 * within the process) and the high half is fast thread-local randomness; both are salted once with
 * {@link SecureRandom} so that two pgmemo instances sharing a Redis do not produce the same sequence.
 * SecureRandom per call would cost microseconds on the write path.
 */
public final class Tokens {

  public static final int LENGTH = 16;

  private static final long SALT_HIGH;
  private static final long SALT_LOW;
  private static final AtomicLong COUNTER = new AtomicLong();

  static {
    SecureRandom seed = new SecureRandom();
    SALT_HIGH = seed.nextLong();
    SALT_LOW = seed.nextLong();
  }

  private Tokens() {}

  public static byte[] fresh() {
    long high = ThreadLocalRandom.current().nextLong() ^ SALT_HIGH;
    long low = mix64(COUNTER.incrementAndGet() + SALT_LOW);
    byte[] token = new byte[LENGTH];
    for (int i = 0; i < 8; i++) {
      token[i] = (byte) (high >>> (56 - 8 * i));
      token[8 + i] = (byte) (low >>> (56 - 8 * i));
    }
    return token;
  }

  /** Stafford's variant 13 of the MurmurHash3 finalizer: a bijection on 64-bit values. */
  private static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
