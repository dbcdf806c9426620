package dev.pgmemo.cache.store;

/**
 * The store could not answer: it is disconnected, timed out, failed, its circuit breaker is open, or
 * it is waiting to bump the global epoch after a lost invalidation. Callers treat it as a miss and go
 * to PostgreSQL; the store has already logged why (rate-limited).
 */
public final class CacheUnavailableException extends RuntimeException {

  public CacheUnavailableException(String message) {
    this(message, null);
  }

  public CacheUnavailableException(String message, Throwable cause) {
    // No stack trace: these are expected on the fail-open path, possibly thousands per second.
    super(message, cause, false, false);
  }
}
