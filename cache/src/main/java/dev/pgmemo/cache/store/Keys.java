package dev.pgmemo.cache.store;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * Logical key names in the store, all UTF-8:
 *
 * <ul>
 *   <li>{@code pgmemo:r:<hex hash>} — a cached result ({@link CacheEntry});
 *   <li>{@code pgmemo:t:<database>:<schema>.<table>} — a table's version token;
 *   <li>{@code pgmemo:e:<database>} — a database's epoch, bumped by DDL and by writes whose tables
 *       pgmemo cannot name;
 *   <li>{@code pgmemo:g} — the global epoch, bumped by {@code invalidate --all} and after an
 *       invalidation was lost while the store was failing.
 * </ul>
 *
 * <p>Every entry records the global epoch and its database's epoch besides its tables' tokens, so
 * callers always include {@link #globalEpoch()} and {@link #databaseEpoch} in the token keys. In
 * names, {@code %}, {@code :} and {@code .} are percent-escaped so that a quoted identifier such as
 * {@code "a.b"} cannot share a token with another table. A store may put all of these under a
 * namespace prefix of its own.
 */
public final class Keys {

  public static final String ROOT = "pgmemo:";
  public static final String ENTRY_PREFIX = ROOT + "r:";
  public static final String TABLE_PREFIX = ROOT + "t:";
  public static final String DATABASE_EPOCH_PREFIX = ROOT + "e:";

  private static final byte[] GLOBAL_EPOCH = (ROOT + "g").getBytes(StandardCharsets.UTF_8);
  private static final HexFormat HEX = HexFormat.of();

  private Keys() {}

  /** The key of a cached result whose cache key hashes to {@code hash}. */
  public static byte[] entry(byte[] hash) {
    return utf8(ENTRY_PREFIX + HEX.formatHex(hash));
  }

  public static byte[] tableToken(String database, String schema, String table) {
    return utf8(TABLE_PREFIX + escape(database) + ':' + escape(schema) + '.' + escape(table));
  }

  public static byte[] databaseEpoch(String database) {
    return utf8(DATABASE_EPOCH_PREFIX + escape(database));
  }

  /** A fresh copy each call, so that no caller can change the key others use. */
  public static byte[] globalEpoch() {
    return GLOBAL_EPOCH.clone();
  }

  static String escape(String name) {
    if (name.indexOf('%') < 0 && name.indexOf(':') < 0 && name.indexOf('.') < 0) {
      return name;
    }
    StringBuilder sb = new StringBuilder(name.length() + 8);
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      switch (c) {
        case '%' -> sb.append("%25");
        case ':' -> sb.append("%3A");
        case '.' -> sb.append("%2E");
        default -> sb.append(c);
      }
    }
    return sb.toString();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
