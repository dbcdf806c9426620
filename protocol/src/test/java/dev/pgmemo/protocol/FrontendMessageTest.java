package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.HexDumpAssert.assertHexDump;
import static dev.pgmemo.protocol.HexDumpAssert.buffer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.pgmemo.protocol.FrontendMessage.Bind;
import dev.pgmemo.protocol.FrontendMessage.Close;
import dev.pgmemo.protocol.FrontendMessage.Describe;
import dev.pgmemo.protocol.FrontendMessage.Execute;
import dev.pgmemo.protocol.FrontendMessage.Flush;
import dev.pgmemo.protocol.FrontendMessage.Parse;
import dev.pgmemo.protocol.FrontendMessage.Query;
import dev.pgmemo.protocol.FrontendMessage.Sync;
import dev.pgmemo.protocol.FrontendMessage.Terminate;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** FrontendMessage.decode on hand-written frames (PostgreSQL docs 55.7), and the frontend encoders as hex dumps. */
class FrontendMessageTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    private static FrontendMessage decode(String frameSpec) {
        ByteBuf frame = buffer(frameSpec);
        try {
            assertThat(frame.getInt(1)).as("declared length of the hand-written frame %s", frameSpec)
                    .isEqualTo(frame.readableBytes() - 1);
            return FrontendMessage.decode(frame);
        } finally {
            frame.release();
        }
    }

    /** Asserts an encoder's output and releases it. */
    private static void assertEncodes(ByteBuf encoded, String expectedSpec) {
        try {
            assertHexDump(encoded, expectedSpec);
        } finally {
            encoded.release();
        }
    }

    // ---- decode ----

    @Test
    void decodesQuery() {
        assertThat(decode("51 00 00 00 0d  'SELECT 1' 00")).isEqualTo(new Query("SELECT 1"));
    }

    @Test
    void decodesQueryTextAsUtf8() {
        assertThat(decode("51 00 00 00 10  'SELECT ' 27 c3 a9 27 00")).isEqualTo(new Query("SELECT 'é'"));
    }

    @Test
    void decodesEmptyQuery() {
        assertThat(decode("51 00 00 00 05  00")).isEqualTo(new Query(""));
    }

    @Test
    void decodesParseWithParameterTypes() {
        FrontendMessage msg = decode("50 00 00 00 1f  's1' 00  'SELECT $1, $2' 00  00 02  00 00 00 17  00 00 00 19");

        assertThat(msg).isInstanceOf(Parse.class);
        Parse parse = (Parse) msg;
        assertThat(parse.name()).isEqualTo("s1");
        assertThat(parse.sql()).isEqualTo("SELECT $1, $2");
        assertThat(parse.parameterTypes()).containsExactly(23, 25);
    }

    @Test
    void decodesUnnamedParseWithoutParameterTypes() {
        Parse parse = (Parse) decode("50 00 00 00 10  00  'SELECT 1' 00  00 00");

        assertThat(parse.name()).isEmpty();
        assertThat(parse.sql()).isEqualTo("SELECT 1");
        assertThat(parse.parameterTypes()).isEmpty();
    }

    @Test
    void decodesBindWithNullEmptyAndBinaryParametersAndResultFormats() {
        FrontendMessage msg = decode("42 00 00 00 28  'p1' 00  's1' 00"
                + "  00 03  00 00  00 00  00 01" // parameter formats: text, text, binary
                + "  00 03"                        // three values
                + "  ff ff ff ff"                  // NULL
                + "  00 00 00 00"                  // '' (empty, not NULL)
                + "  00 00 00 04  00 00 00 2a"     // int4 42 in binary
                + "  00 01  00 01");               // one result format: binary

        assertThat(msg).isInstanceOf(Bind.class);
        Bind bind = (Bind) msg;
        assertThat(bind.portal()).isEqualTo("p1");
        assertThat(bind.statement()).isEqualTo("s1");
        assertThat(bind.parameterFormats()).containsExactly((short) 0, (short) 0, (short) 1);
        assertThat(bind.values()).hasNumberOfRows(3);
        assertThat(bind.values()[0]).as("NULL").isNull();
        assertThat(bind.values()[1]).as("empty value").isNotNull().isEmpty();
        assertThat(bind.values()[2]).containsExactly(0, 0, 0, 42);
        assertThat(bind.resultFormats()).containsExactly((short) 1);
    }

    @Test
    void decodesBindWithOneFormatCodeForAllParametersAndNoResultFormats() {
        Bind bind = (Bind) decode("42 00 00 00 1d  00  00  00 01  00 00  00 02"
                + "  00 00 00 02 '42'  00 00 00 05 'hello'  00 00");

        assertThat(bind.portal()).isEmpty();
        assertThat(bind.statement()).isEmpty();
        assertThat(bind.parameterFormats()).containsExactly((short) 0);
        assertThat(bind.values()[0]).asString().isEqualTo("42");
        assertThat(bind.values()[1]).asString().isEqualTo("hello");
        assertThat(bind.resultFormats()).isEmpty();
    }

    @Test
    void decodesDescribeOfStatementAndOfPortal() {
        assertThat(decode("44 00 00 00 08  'S' 's1' 00")).isEqualTo(new Describe((byte) 'S', "s1"));
        assertThat(decode("44 00 00 00 06  'P' 00")).isEqualTo(new Describe((byte) 'P', ""));
    }

    @Test
    void decodesExecuteWithRowLimit() {
        assertThat(decode("45 00 00 00 0b  'p1' 00  00 00 00 64")).isEqualTo(new Execute("p1", 100));
        assertThat(decode("45 00 00 00 09  00  00 00 00 00")).isEqualTo(new Execute("", 0));
    }

    @Test
    void decodesCloseOfStatementAndOfPortal() {
        assertThat(decode("43 00 00 00 08  'S' 's1' 00")).isEqualTo(new Close((byte) 'S', "s1"));
        assertThat(decode("43 00 00 00 08  'P' 'p1' 00")).isEqualTo(new Close((byte) 'P', "p1"));
    }

    @Test
    void decodesSyncFlushAndTerminate() {
        assertThat(decode("53 00 00 00 04")).isSameAs(Sync.INSTANCE);
        assertThat(decode("48 00 00 00 04")).isSameAs(Flush.INSTANCE);
        assertThat(decode("58 00 00 00 04")).isSameAs(Terminate.INSTANCE);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "64 00 00 00 07  01 02 03",           // CopyData
            "63 00 00 00 04",                     // CopyDone
            "70 00 00 00 0b  'secret' 00",        // PasswordMessage
            "46 00 00 00 0e  00 00 04 d2  00 00  00 00  00 00", // FunctionCall
            "7a 00 00 00 04"})                    // not a message type at all
    void returnsNullForMessageTypesItDoesNotActOn(String frame) {
        assertThat(decode(frame)).isNull();
    }

    @Test
    void leavesTheFrameUntouchedForForwarding() {
        ByteBuf frame = buffer("51 00 00 00 0d  'SELECT 1' 00");
        try {
            FrontendMessage.decode(frame);

            assertThat(frame.readerIndex()).isZero();
            assertHexDump(frame, "51 00 00 00 0d  'SELECT 1' 00");
        } finally {
            frame.release();
        }
    }

    @Test
    void decodesAFrameThatDoesNotStartAtIndexZero() {
        ByteBuf buf = Unpooled.buffer().writeBytes(HexDumpAssert.bytes("53 00 00 00 04  45 00 00 00 0b  'p1' 00  00 00 00 07"));
        try {
            buf.skipBytes(5);

            assertThat(FrontendMessage.decode(buf)).isEqualTo(new Execute("p1", 7));
        } finally {
            buf.release();
        }
    }

    static List<Arguments> truncatedBodies() {
        return List.of(
                Arguments.of("Query without NUL", "51 00 00 00 0c  'SELECT 1'"),
                Arguments.of("Query with empty body", "51 00 00 00 04"),
                Arguments.of("Parse name without NUL", "50 00 00 00 06  's1'"),
                Arguments.of("Parse without parameter count", "50 00 00 00 0e  00  'SELECT 1' 00"),
                Arguments.of("Parse with half a parameter count", "50 00 00 00 0f  00  'SELECT 1' 00  00"),
                Arguments.of("Parse with fewer types than counted", "50 00 00 00 14  00  'SELECT 1' 00  00 02  00 00 00 17"),
                Arguments.of("Parse with a truncated type", "50 00 00 00 12  00  'SELECT 1' 00  00 01  00 00"),
                Arguments.of("Bind without formats count", "42 00 00 00 06  00 00"),
                Arguments.of("Bind with fewer format codes than counted", "42 00 00 00 0a  00 00  00 02  00 01"),
                Arguments.of("Bind without parameter count", "42 00 00 00 08  00 00  00 00"),
                Arguments.of("Bind without parameter length", "42 00 00 00 0a  00 00  00 00  00 01"),
                Arguments.of("Bind with truncated parameter length", "42 00 00 00 0c  00 00  00 00  00 01  00 00"),
                Arguments.of("Bind value shorter than its length", "42 00 00 00 10  00 00  00 00  00 01  00 00 00 05 'ab'"),
                Arguments.of("Bind value length -2", "42 00 00 00 10  00 00  00 00  00 01  ff ff ff fe  00 00"),
                Arguments.of("Bind with 65535 values and none sent", "42 00 00 00 0a  00 00  00 00  ff ff"),
                Arguments.of("Bind without result formats count", "42 00 00 00 0a  00 00  00 00  00 00"),
                Arguments.of("Bind with fewer result formats than counted", "42 00 00 00 0e  00 00  00 00  00 00  00 02  00 01"),
                Arguments.of("Describe with empty body", "44 00 00 00 04"),
                Arguments.of("Describe name without NUL", "44 00 00 00 07  'S' 's1'"),
                Arguments.of("Execute without row limit", "45 00 00 00 05  00"),
                Arguments.of("Execute with truncated row limit", "45 00 00 00 07  00  00 00"),
                Arguments.of("Execute portal without NUL", "45 00 00 00 06  'p1'"),
                Arguments.of("Close with empty body", "43 00 00 00 04"),
                Arguments.of("Close name without NUL", "43 00 00 00 07  'P' 'p1'"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("truncatedBodies")
    void rejectsTruncatedBodyAsMalformed(String name, String frame) {
        assertThatThrownBy(() -> decode(frame)).isInstanceOf(MalformedMessageException.class);
    }

    // ---- encode ----

    @Test
    void encodesParseWithParameterTypes() {
        assertEncodes(new Parse("s1", "SELECT $1", new int[] {23}).encode(ALLOC),
                "50 00 00 00 17  's1' 00  'SELECT $1' 00  00 01  00 00 00 17");
    }

    @Test
    void encodesUnnamedParseWithoutParameterTypes() {
        assertEncodes(new Parse("", "SELECT 1", new int[0]).encode(ALLOC),
                "50 00 00 00 10  00  'SELECT 1' 00  00 00");
    }

    @Test
    void parseSurvivesEncodeThenDecode() {
        ByteBuf encoded = new Parse("stmt_7", "SELECT * FROM t WHERE a = $1 AND b = $2", new int[] {0, 1043}).encode(ALLOC);
        try {
            Parse decoded = (Parse) FrontendMessage.decode(encoded);

            assertThat(decoded.name()).isEqualTo("stmt_7");
            assertThat(decoded.sql()).isEqualTo("SELECT * FROM t WHERE a = $1 AND b = $2");
            assertThat(decoded.parameterTypes()).containsExactly(0, 1043);
        } finally {
            encoded.release();
        }
    }

    @Test
    void encodesQuery() {
        assertEncodes(new Query("SELECT 1").encode(ALLOC), "51 00 00 00 0d  'SELECT 1' 00");
    }

    @Test
    void encodesQueryLengthInUtf8BytesNotChars() {
        assertEncodes(new Query("SELECT 'é'").encode(ALLOC), "51 00 00 00 10  'SELECT ' 27 c3 a9 27 00");
    }

    @Test
    void encodesSync() {
        assertEncodes(Sync.encode(ALLOC), "53 00 00 00 04");
    }

    @Test
    void encodesTerminate() {
        assertEncodes(Terminate.encode(ALLOC), "58 00 00 00 04");
    }
}
