package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class CacheEntryTest {

  private static final byte[] T1 = Tokens.fresh();
  private static final byte[] T2 = Tokens.fresh();

  @Test
  void roundTripsTokensAndWireBytes() {
    byte[] wire = new byte[300];
    for (int i = 0; i < wire.length; i++) {
      wire[i] = (byte) i;
    }
    CacheEntry entry = new CacheEntry(List.of(T1, T2, new byte[0], new byte[200]), wire);

    CacheEntry decoded = CacheEntry.decode(entry.encode());

    assertThat(decoded).isEqualTo(entry);
    assertThat(decoded.wire()).isEqualTo(wire);
    assertThat(decoded.tokens()).hasSize(4);
  }

  @Test
  void encodingIsCompact() {
    byte[] encoded = new CacheEntry(List.of(T1, T2), new byte[] {1, 2, 3}).encode();

    assertThat(encoded).hasSize(1 + 1 + 2 * (1 + 16) + 1 + 3);
    assertThat(encoded[0]).isEqualTo(CacheEntry.FORMAT);
  }

  @Test
  void roundTripsEmptyTokensAndEmptyWire() {
    CacheEntry entry = new CacheEntry(List.of(), new byte[0]);

    assertThat(CacheEntry.decode(entry.encode())).isEqualTo(entry);
  }

  @Test
  void matchesOnlyTheSameTokensInTheSameOrder() {
    CacheEntry entry = new CacheEntry(List.of(T1, T2), new byte[0]);

    assertThat(entry.matches(List.of(T1.clone(), T2.clone()))).isTrue();
    assertThat(entry.matches(List.of(T2, T1))).isFalse();
    assertThat(entry.matches(List.of(T1))).isFalse();
    assertThat(entry.matches(List.of(T1, T2, T2))).isFalse();
    assertThat(entry.matches(List.of(T1, Tokens.fresh()))).isFalse();
  }

  @Test
  void rejectsForeignBytes() {
    assertThatThrownBy(() -> CacheEntry.decode(new byte[0])).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> CacheEntry.decode(null)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> CacheEntry.decode("T\0\0\0\4".getBytes()))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void rejectsEveryTruncationAndTrailingGarbage() {
    byte[] encoded = new CacheEntry(List.of(T1, T2), new byte[1000]).encode();
    for (int len = 0; len < encoded.length; len++) {
      byte[] truncated = Arrays.copyOf(encoded, len);
      assertThatThrownBy(() -> CacheEntry.decode(truncated))
          .as("truncated to %d bytes", len)
          .isInstanceOf(IllegalArgumentException.class);
    }
    byte[] longer = Arrays.copyOf(encoded, encoded.length + 1);
    assertThatThrownBy(() -> CacheEntry.decode(longer)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void rejectsHugeOrOverlongLengths() {
    byte[] hugeCount = {CacheEntry.FORMAT, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x07};
    byte[] overlong = {CacheEntry.FORMAT, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0};
    byte[] tooManyTokens = {CacheEntry.FORMAT, (byte) 0xFF, (byte) 0xFF, 0x7F};

    for (byte[] bad : List.of(hugeCount, overlong, tooManyTokens)) {
      assertThatThrownBy(() -> CacheEntry.decode(bad)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void randomBytesNeverDecodeToAnythingButAnEntryOrIllegalArgument() {
    SplittableRandom random = new SplittableRandom(42);
    byte[] valid = new CacheEntry(List.of(T1), new byte[40]).encode();
    for (int i = 0; i < 20_000; i++) {
      byte[] bytes = i % 2 == 0 ? new byte[random.nextInt(64)] : valid.clone();
      if (i % 2 == 0) {
        random.nextBytes(bytes);
        if (bytes.length > 0 && random.nextBoolean()) {
          bytes[0] = CacheEntry.FORMAT;
        }
      } else {
        bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
      }
      try {
        CacheEntry.decode(bytes);
      } catch (IllegalArgumentException expected) {
        // a miss for the caller
      }
    }
  }

  @Test
  void recordsAreComparedByContent() {
    CacheEntry a = new CacheEntry(List.of(T1), new byte[] {1});
    CacheEntry b = new CacheEntry(List.of(T1.clone()), new byte[] {1});

    assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
    assertThat(a).isNotEqualTo(new CacheEntry(List.of(T1), new byte[] {2}));
    assertThat(a.toString()).contains("1 bytes");
  }
}
