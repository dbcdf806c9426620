package dev.pgmemo.cache.store;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/** A WARN that is written at most once per interval, saying how many like it were suppressed. */
final class RateLimitedLog {

  private final Logger log;
  private final long intervalNanos;
  private final LongSupplier nanoTime;
  private final AtomicLong lastNanos;
  private final AtomicLong suppressed = new AtomicLong();

  RateLimitedLog(Logger log, long intervalNanos, LongSupplier nanoTime) {
    this.log = log;
    this.intervalNanos = intervalNanos;
    this.nanoTime = nanoTime;
    this.lastNanos = new AtomicLong(nanoTime.getAsLong() - intervalNanos);
  }

  /** Logs {@code message} (no placeholders) unless one was logged less than an interval ago. */
  void warn(String message, Throwable cause) {
    long now = nanoTime.getAsLong();
    long last = lastNanos.get();
    if (now - last < intervalNanos || !lastNanos.compareAndSet(last, now)) {
      suppressed.incrementAndGet();
      return;
    }
    long skipped = suppressed.getAndSet(0);
    String suffix = skipped == 0 ? "" : " (" + skipped + " similar warnings suppressed)";
    String why = cause == null ? "" : ": " + describe(cause);
    log.warn("{}{}{}", message, why, suffix);
  }

  /** The messages along a cause chain, skipping a cause whose message its wrapper already repeats. */
  static String describe(Throwable t) {
    StringBuilder sb = new StringBuilder();
    String previous = null;
    for (Throwable c = t; c != null && sb.length() < 300; c = c.getCause() == c ? null : c.getCause()) {
      String message = c.getMessage() == null ? "" : c.getMessage();
      if (previous != null && !message.isEmpty() && previous.contains(message)) {
        continue;
      }
      if (sb.length() > 0) {
        sb.append(" <- ");
      }
      if (!(c instanceof CacheUnavailableException)) {
        sb.append(c.getClass().getSimpleName()).append(message.isEmpty() ? "" : " ");
      }
      sb.append(message);
      previous = message;
    }
    return sb.toString();
  }
}
