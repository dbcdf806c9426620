package dev.pgmemo.cache.store;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * A cached result: the version tokens its tables had before the query went upstream, and the
 * response's wire bytes (RowDescription or NoData, DataRows, CommandComplete) to replay on a hit.
 *
 * <p>Binary layout, all lengths unsigned LEB128 varints:
 * {@code FORMAT(1 byte) tokenCount (tokenLength tokenBytes)* wireLength wireBytes}. The whole value
 * must be consumed exactly, so a truncated or foreign value is rejected rather than half-served.
 */
public record CacheEntry(List<byte[]> tokens, byte[] wire) {

  /** Magic and format version in one byte; a new layout gets a new value. */
  static final byte FORMAT = (byte) 0xC1;

  private static final int MAX_TOKENS = 1 << 16;

  public CacheEntry {
    tokens = List.copyOf(tokens);
    if (tokens.size() > MAX_TOKENS) {
      throw new IllegalArgumentException("too many tokens: " + tokens.size());
    }
    if (wire == null) {
      throw new NullPointerException("wire");
    }
  }

  /** True when the tokens recorded in this entry equal {@code currentTokens}, element by element. */
  public boolean matches(List<byte[]> currentTokens) {
    return sameTokens(tokens, currentTokens);
  }

  public byte[] encode() {
    int size = 1 + varintSize(tokens.size()) + varintSize(wire.length) + wire.length;
    for (byte[] t : tokens) {
      size += varintSize(t.length) + t.length;
    }
    byte[] out = new byte[size];
    int p = 0;
    out[p++] = FORMAT;
    p = putVarint(out, p, tokens.size());
    for (byte[] t : tokens) {
      p = putVarint(out, p, t.length);
      System.arraycopy(t, 0, out, p, t.length);
      p += t.length;
    }
    p = putVarint(out, p, wire.length);
    System.arraycopy(wire, 0, out, p, wire.length);
    return out;
  }

  /**
   * Decodes {@link #encode()}'s output.
   *
   * @throws IllegalArgumentException when the bytes are not a complete entry of this format (callers
   *     treat that as a miss)
   */
  public static CacheEntry decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0 || bytes[0] != FORMAT) {
      throw new IllegalArgumentException("not a pgmemo cache entry (format byte)");
    }
    int[] pos = {1};
    int count = readVarint(bytes, pos);
    if (count > MAX_TOKENS) {
      throw new IllegalArgumentException("corrupt cache entry: " + count + " tokens");
    }
    List<byte[]> tokens = new ArrayList<>(Math.min(count, 64));
    for (int i = 0; i < count; i++) {
      tokens.add(readBytes(bytes, pos));
    }
    byte[] wire = readBytes(bytes, pos);
    if (pos[0] != bytes.length) {
      throw new IllegalArgumentException(
          "corrupt cache entry: " + (bytes.length - pos[0]) + " trailing bytes");
    }
    return new CacheEntry(tokens, wire);
  }

  static boolean sameTokens(List<byte[]> a, List<byte[]> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      if (!Arrays.equals(a.get(i), b.get(i))) {
        return false;
      }
    }
    return true;
  }

  private static byte[] readBytes(byte[] in, int[] pos) {
    int len = readVarint(in, pos);
    if (len > in.length - pos[0]) {
      throw new IllegalArgumentException("corrupt cache entry: length " + len + " past the end");
    }
    byte[] out = Arrays.copyOfRange(in, pos[0], pos[0] + len);
    pos[0] += len;
    return out;
  }

  private static int readVarint(byte[] in, int[] pos) {
    long value = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (pos[0] >= in.length) {
        throw new IllegalArgumentException("corrupt cache entry: truncated");
      }
      int b = in[pos[0]++] & 0xFF;
      value |= (long) (b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        if (value > Integer.MAX_VALUE) {
          break;
        }
        return (int) value;
      }
    }
    throw new IllegalArgumentException("corrupt cache entry: bad length");
  }

  private static int varintSize(int v) {
    int n = 1;
    while ((v >>>= 7) != 0) {
      n++;
    }
    return n;
  }

  private static int putVarint(byte[] out, int p, int v) {
    while ((v & ~0x7F) != 0) {
      out[p++] = (byte) ((v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out[p++] = (byte) v;
    return p;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof CacheEntry other
        && Arrays.equals(wire, other.wire)
        && sameTokens(tokens, other.tokens);
  }

  @Override
  public int hashCode() {
    int h = Arrays.hashCode(wire);
    for (byte[] t : tokens) {
      h = 31 * h + Arrays.hashCode(t);
    }
    return h;
  }

  @Override
  public String toString() {
    HexFormat hex = HexFormat.of();
    return "CacheEntry[tokens=" + tokens.stream().map(hex::formatHex).toList()
        + ", wire=" + wire.length + " bytes]";
  }
}
