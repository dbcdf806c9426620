package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.opentest4j.AssertionFailedError;

/**
 * Byte-level assertions for protocol tests: expected bytes are written out in the test, and a mismatch is
 * reported as a line-by-line diff of {@link ByteBufUtil#prettyHexDump} output (after r2dbc's FrontendMessageAssert).
 *
 * <p>{@link #bytes(String)} reads a byte spec: whitespace-separated runs of hex digits ({@code 51 0000000d}) and
 * single-quoted ASCII text ({@code 'SELECT 1'}), so a message reads like the table in PostgreSQL docs 55.7.
 */
final class HexDumpAssert {
    private HexDumpAssert() {
    }

    /** Parses a byte spec such as {@code "51 00 00 00 0d 'SELECT 1' 00"}. */
    static byte[] bytes(String spec) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        while (i < spec.length()) {
            char c = spec.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '\'') {
                int end = spec.indexOf('\'', i + 1);
                if (end < 0) {
                    throw new IllegalArgumentException("unterminated quoted text at " + i + " in: " + spec);
                }
                out.writeBytes(spec.substring(i + 1, end).getBytes(StandardCharsets.UTF_8));
                i = end + 1;
            } else {
                int end = i;
                while (end < spec.length() && !Character.isWhitespace(spec.charAt(end)) && spec.charAt(end) != '\'') {
                    end++;
                }
                String run = spec.substring(i, end);
                if (run.length() % 2 != 0) {
                    throw new IllegalArgumentException("odd number of hex digits in '" + run + "' in: " + spec);
                }
                for (int j = 0; j < run.length(); j += 2) {
                    int hi = Character.digit(run.charAt(j), 16);
                    int lo = Character.digit(run.charAt(j + 1), 16);
                    if (hi < 0 || lo < 0) {
                        throw new IllegalArgumentException("not hex: '" + run + "' in: " + spec);
                    }
                    out.write(hi << 4 | lo);
                }
                i = end;
            }
        }
        return out.toByteArray();
    }

    /** An unpooled buffer over the bytes of a spec (for decoders that take a complete frame). */
    static ByteBuf buffer(String spec) {
        return Unpooled.wrappedBuffer(bytes(spec));
    }

    /** Asserts that the readable bytes of {@code actual} are exactly those of {@code expectedSpec}. Does not release. */
    static void assertHexDump(ByteBuf actual, String expectedSpec) {
        assertHexDump(ByteBufUtil.getBytes(actual), bytes(expectedSpec));
    }

    static void assertHexDump(byte[] actual, String expectedSpec) {
        assertHexDump(actual, bytes(expectedSpec));
    }

    static void assertHexDump(byte[] actual, byte[] expected) {
        String expectedDump = ByteBufUtil.prettyHexDump(Unpooled.wrappedBuffer(expected));
        String actualDump = ByteBufUtil.prettyHexDump(Unpooled.wrappedBuffer(actual));
        if (expectedDump.equals(actualDump)) {
            return;
        }
        int firstDifference = 0;
        while (firstDifference < Math.min(expected.length, actual.length) && expected[firstDifference] == actual[firstDifference]) {
            firstDifference++;
        }
        String message = String.format("bytes differ at offset %d (0x%x); expected %d bytes, got %d%n"
                        + "diff (- expected, + actual):%n%s",
                firstDifference, firstDifference, expected.length, actual.length, diff(expectedDump, actualDump));
        throw new AssertionFailedError(message, expectedDump, actualDump);
    }

    /** Line diff of two hex dumps; the dumps have one line per 16 bytes, so line i of one matches line i of the other. */
    private static String diff(String expectedDump, String actualDump) {
        String[] e = expectedDump.split("\n", -1);
        String[] a = actualDump.split("\n", -1);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.max(e.length, a.length); i++) {
            String el = i < e.length ? e[i] : null;
            String al = i < a.length ? a[i] : null;
            if (el != null && el.equals(al)) {
                sb.append("  ").append(el).append('\n');
            } else {
                if (el != null) {
                    sb.append("- ").append(el).append('\n');
                }
                if (al != null) {
                    sb.append("+ ").append(al).append('\n');
                }
            }
        }
        return sb.toString();
    }
}
