package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.HexDumpAssert.assertHexDump;
import static dev.pgmemo.protocol.HexDumpAssert.bytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** The test helper itself: a byte spec parses to the bytes it spells, and a mismatch fails with a hex-dump diff. */
class HexDumpAssertTest {

    @Test
    void parsesHexRunsAndQuotedText() {
        assertThat(bytes("51 0000000d 'SELECT 1' 00")).containsExactly(
                0x51, 0x00, 0x00, 0x00, 0x0d, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0x00);
    }

    @Test
    void parsesHexDigitsInEitherCase() {
        assertThat(bytes("dE AD be EF")).containsExactly(0xde, 0xad, 0xbe, 0xef);
    }

    @Test
    void rejectsMalformedSpecs() {
        assertThatThrownBy(() -> bytes("5")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bytes("zz")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bytes("'open")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void passesOnIdenticalBytes() {
        assertHexDump(new byte[] {0x53, 0, 0, 0, 4}, "53 00 00 00 04");
    }

    @Test
    void failsWithADiffOfHexDumpsNamingTheFirstDifferingOffset() {
        assertThatThrownBy(() -> assertHexDump(bytes("53 00 00 00 05"), "53 00 00 00 04"))
                .isInstanceOf(AssertionFailedError.class)
                .hasMessageContaining("offset 4")
                .hasMessageContaining("- |00000000| 53 00 00 00 04")
                .hasMessageContaining("+ |00000000| 53 00 00 00 05");
    }

    @Test
    void failsWhenActualIsAPrefixOfExpected() {
        assertThatThrownBy(() -> assertHexDump(bytes("53 00 00 00"), "53 00 00 00 04"))
                .isInstanceOf(AssertionFailedError.class)
                .hasMessageContaining("expected 5 bytes, got 4");
    }
}
