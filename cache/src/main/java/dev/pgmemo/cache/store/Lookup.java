package dev.pgmemo.cache.store;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * The answer to {@link CacheStore#lookup}: the stored entry bytes, or null on a miss, and the current
 * version tokens of the requested token keys, in request order and never null.
 */
public record Lookup(byte[] entry, List<byte[]> tokens) {

  public Lookup {
    tokens = List.copyOf(tokens); // rejects null tokens
  }

  public boolean hasEntry() {
    return entry != null;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Lookup other
        && Arrays.equals(entry, other.entry)
        && CacheEntry.sameTokens(tokens, other.tokens);
  }

  @Override
  public int hashCode() {
    int h = Arrays.hashCode(entry);
    for (byte[] t : tokens) {
      h = 31 * h + Arrays.hashCode(t);
    }
    return h;
  }

  @Override
  public String toString() {
    HexFormat hex = HexFormat.of();
    return "Lookup[entry=" + (entry == null ? "null" : entry.length + " bytes")
        + ", tokens=" + tokens.stream().map(hex::formatHex).toList() + "]";
  }
}
