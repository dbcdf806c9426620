package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class TokensTest {

  @Test
  void tokensAreSixteenBytesAndNeverRepeat() {
    Set<ByteBuffer> seen = ConcurrentHashMap.newKeySet();
    IntStream.range(0, 200_000).parallel().forEach(i -> {
      byte[] token = Tokens.fresh();
      assertThat(token).hasSize(Tokens.LENGTH);
      assertThat(seen.add(ByteBuffer.wrap(token))).isTrue();
    });
  }

  @Test
  void bothHalvesVary() {
    Set<ByteBuffer> highs = new HashSet<>();
    Set<ByteBuffer> lows = new HashSet<>();
    for (int i = 0; i < 1000; i++) {
      byte[] token = Tokens.fresh();
      highs.add(ByteBuffer.wrap(token, 0, 8).slice());
      lows.add(ByteBuffer.wrap(token, 8, 8).slice());
    }
    assertThat(highs).hasSize(1000);
    assertThat(lows).hasSize(1000);
  }
}
