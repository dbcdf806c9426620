package dev.pgmemo.cache.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class KeysTest {

  @Test
  void namesKeysAsDocumented() {
    assertThat(utf8(Keys.entry(new byte[] {0x0a, (byte) 0xff}))).isEqualTo("pgmemo:r:0aff");
    assertThat(utf8(Keys.tableToken("app", "public", "orders"))).isEqualTo("pgmemo:t:app:public.orders");
    assertThat(utf8(Keys.databaseEpoch("app"))).isEqualTo("pgmemo:e:app");
    assertThat(utf8(Keys.globalEpoch())).isEqualTo("pgmemo:g");
  }

  @Test
  void keepsNonAsciiIdentifiersAsUtf8() {
    assertThat(Keys.tableToken("base", "schéma", "Tâble"))
        .isEqualTo("pgmemo:t:base:schéma.Tâble".getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void quotedIdentifiersWithSeparatorsCannotShareAToken() {
    byte[] dottedTable = Keys.tableToken("db", "a", "b.c");
    byte[] dottedSchema = Keys.tableToken("db", "a.b", "c");
    byte[] colonDatabase = Keys.tableToken("d:b", "s", "t");
    byte[] colonSchema = Keys.tableToken("d", "b:s", "t");

    assertThat(dottedTable).isNotEqualTo(dottedSchema);
    assertThat(colonDatabase).isNotEqualTo(colonSchema);
    assertThat(utf8(dottedTable)).isEqualTo("pgmemo:t:db:a.b%2Ec");
    assertThat(utf8(Keys.tableToken("db", "%3A", "t"))).isEqualTo("pgmemo:t:db:%253A.t");
    assertThat(Keys.databaseEpoch("a:b")).isNotEqualTo(Keys.databaseEpoch("a%3Ab"));
  }

  @Test
  void keysAreCaseSensitiveLikeQuotedIdentifiers() {
    assertThat(Keys.tableToken("db", "public", "Orders")).isNotEqualTo(Keys.tableToken("db", "public", "orders"));
  }

  @Test
  void globalEpochIsACopyEachTime() {
    byte[] first = Keys.globalEpoch();
    first[0] = 'X';

    assertThat(utf8(Keys.globalEpoch())).isEqualTo("pgmemo:g");
  }

  private static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }
}
