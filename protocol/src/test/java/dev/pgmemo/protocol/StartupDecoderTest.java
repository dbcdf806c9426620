package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.Feeding.drainInbound;
import static dev.pgmemo.protocol.HexDumpAssert.assertHexDump;
import static dev.pgmemo.protocol.HexDumpAssert.bytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** StartupDecoder in an EmbeddedChannel, with the packets of PostgreSQL docs 55.7 written out by hand. */
class StartupDecoderTest {

    /** StartupMessage, protocol 3.0, four parameters in non-alphabetical order; 83 = 0x53 bytes. */
    private static final String STARTUP_MESSAGE = "00 00 00 53  00 03 00 00"
            + " 'user' 00 'alice' 00"
            + " 'database' 00 'shop' 00"
            + " 'application_name' 00 'psql' 00"
            + " 'options' 00 '-c search_path=app' 00"
            + " 00";
    /** StartupMessage with only user=alice; 20 = 0x14 bytes. */
    private static final String MINIMAL_STARTUP_MESSAGE = "00 00 00 14  00 03 00 00  'user' 00 'alice' 00  00";
    private static final String SSL_REQUEST = "00 00 00 08  04 d2 16 2f";
    private static final String GSSENC_REQUEST = "00 00 00 08  04 d2 16 30";
    /** CancelRequest for process 12345 with secret key 0xdeadbeef (negative as an Int32). */
    private static final String CANCEL_REQUEST = "00 00 00 10  04 d2 16 2e  00 00 30 39  de ad be ef";
    private static final String QUERY_SELECT_1 = "51 00 00 00 0d 'SELECT 1' 00";

    private StartupDecoder decoder;
    private EmbeddedChannel channel;

    @BeforeEach
    void setUp() {
        decoder = new StartupDecoder();
        channel = new EmbeddedChannel(decoder);
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void decodesStartupMessageKeepingParameterOrderAndRawBytes(Feeding feeding) {
        feeding.feed(channel, bytes(STARTUP_MESSAGE));

        List<Object> out = drainInbound(channel);
        assertThat(out).hasSize(1).first().isInstanceOf(StartupPacket.StartupMessage.class);
        StartupPacket.StartupMessage msg = (StartupPacket.StartupMessage) out.get(0);
        assertThat(msg.protocolVersion()).isEqualTo(StartupPacket.PROTOCOL_3_0);
        assertThat(msg.majorVersion()).isEqualTo(3);
        assertThat(msg.minorVersion()).isZero();
        assertThat(msg.parameters()).containsExactly(
                entry("user", "alice"),
                entry("database", "shop"),
                entry("application_name", "psql"),
                entry("options", "-c search_path=app"));
        assertThat(msg.user()).isEqualTo("alice");
        assertThat(msg.database()).isEqualTo("shop");
        assertHexDump(msg.raw(), STARTUP_MESSAGE);
        assertThat(decoder.hasPartialPacket()).isFalse();
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void decodesSslRequest(Feeding feeding) {
        feeding.feed(channel, bytes(SSL_REQUEST));

        assertThat(drainInbound(channel)).containsExactly(new StartupPacket.SslRequest());
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void decodesGssEncRequest(Feeding feeding) {
        feeding.feed(channel, bytes(GSSENC_REQUEST));

        assertThat(drainInbound(channel)).containsExactly(new StartupPacket.GssEncRequest());
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void decodesCancelRequestWithProcessIdAndSecretKey(Feeding feeding) {
        feeding.feed(channel, bytes(CANCEL_REQUEST));

        assertThat(drainInbound(channel)).containsExactly(new StartupPacket.CancelRequest(12345, 0xdeadbeef));
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void decodesStartupMessageSentAfterARefusedSslRequest(Feeding feeding) {
        feeding.feed(channel, bytes(SSL_REQUEST));
        assertThat(drainInbound(channel)).containsExactly(new StartupPacket.SslRequest());

        feeding.feed(channel, bytes(MINIMAL_STARTUP_MESSAGE));

        List<Object> out = drainInbound(channel);
        assertThat(out).hasSize(1).first().isInstanceOf(StartupPacket.StartupMessage.class);
        assertThat(((StartupPacket.StartupMessage) out.get(0)).user()).isEqualTo("alice");
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void acceptsMinorVersionsOfProtocol3(Feeding feeding) {
        // PostgreSQL accepts 3.x with x > 0 and answers NegotiateProtocolVersion (docs 55.2.1).
        feeding.feed(channel, bytes("00 00 00 14  00 03 00 02  'user' 00 'alice' 00  00"));

        List<Object> out = drainInbound(channel);
        assertThat(out).hasSize(1).first().isInstanceOf(StartupPacket.StartupMessage.class);
        StartupPacket.StartupMessage msg = (StartupPacket.StartupMessage) out.get(0);
        assertThat(msg.majorVersion()).isEqualTo(3);
        assertThat(msg.minorVersion()).isEqualTo(2);
        assertFalse(channel.finish());
    }

    // ---- impossible lengths: Invalid 08P01, then everything else is dropped ----

    static List<Arguments> impossibleLengths() {
        return List.of(
                Arguments.of("below 8", "00 00 00 07  00 03 00"),
                Arguments.of("zero", "00 00 00 00"),
                Arguments.of("above 10004 (PostgreSQL counts the length without its own 4 bytes)", "00 00 27 15  00 03 00 00"),
                Arguments.of("negative", "ff ff ff f0  00 03 00 00"),
                Arguments.of("minus one", "ff ff ff ff"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("impossibleLengths")
    void rejectsImpossibleLengthAsProtocolViolationAndDiscardsTheRest(String name, String packet) {
        for (Feeding feeding : Feeding.values()) {
            setUp();
            feeding.feed(channel, bytes(packet));
            feeding.feed(channel, bytes(MINIMAL_STARTUP_MESSAGE + SSL_REQUEST));

            List<Object> out = drainInbound(channel);
            assertThat(out).as(feeding.name()).hasSize(1).first().isInstanceOf(StartupPacket.Invalid.class);
            assertThat(((StartupPacket.Invalid) out.get(0)).sqlState()).isEqualTo(SqlState.PROTOCOL_VIOLATION);
            assertThat(decoder.hasPartialPacket()).as(feeding.name()).isFalse();
            assertFalse(channel.finish());
        }
    }

    @Test
    void rejectsNegativeLengthAndDiscardsTheRest() {
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("80 00 00 00"));
        Feeding.ALL_AT_ONCE.feed(channel, bytes(STARTUP_MESSAGE));
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes(STARTUP_MESSAGE));

        assertThat(drainInbound(channel)).singleElement().isEqualTo(
                new StartupPacket.Invalid(SqlState.PROTOCOL_VIOLATION, "invalid length of startup packet"));
        assertThat(decoder.hasPartialPacket()).isFalse();
        assertFalse(channel.finish());
    }

    @Test
    void rejectsOversizedLengthAsSoonAsItsFourBytesArriveWithoutWaitingForTheBody() {
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("00 00 27"));
        assertThat(drainInbound(channel)).isEmpty();

        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("15"));

        assertThat(drainInbound(channel)).singleElement().isInstanceOf(StartupPacket.Invalid.class);
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void acceptsStartupMessageOfExactlyTheMaximumLength(Feeding feeding) {
        // 8 (length, version) + "user\0alice\0" (11) + "options\0" (8) + value + NUL + terminator = 10000
        String options = "x".repeat(10000 - 8 - 11 - 8 - 1 - 1);
        byte[] packet = concat(bytes("00 00 27 10  00 03 00 00  'user' 00 'alice' 00  'options' 00"),
                bytes("'" + options + "' 00 00"));
        assertThat(packet).hasSize(StartupPacket.MAX_STARTUP_PACKET_LENGTH);

        feeding.feed(channel, packet);

        List<Object> out = drainInbound(channel);
        assertThat(out).hasSize(1).first().isInstanceOf(StartupPacket.StartupMessage.class);
        StartupPacket.StartupMessage msg = (StartupPacket.StartupMessage) out.get(0);
        assertThat(msg.parameters()).containsEntry("options", options);
        assertThat(msg.raw()).isEqualTo(packet);
        assertFalse(channel.finish());
    }

    // ---- well-framed packets pgmemo refuses ----

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void rejectsProtocol2AsFeatureNotSupported(Feeding feeding) {
        // A protocol 2.0 StartupPacket: 296 bytes, fixed fields database[64] user[32] options[64] unused[64] tty[64].
        byte[] packet = new byte[296];
        System.arraycopy(bytes("00 00 01 28  00 02 00 00  'shop'"), 0, packet, 0, 12);
        System.arraycopy(bytes("'alice'"), 0, packet, 8 + 64, 5);

        feeding.feed(channel, packet);

        List<Object> out = drainInbound(channel);
        assertThat(out).singleElement().isInstanceOf(StartupPacket.Invalid.class);
        StartupPacket.Invalid invalid = (StartupPacket.Invalid) out.get(0);
        assertThat(invalid.sqlState()).isEqualTo(SqlState.FEATURE_NOT_SUPPORTED).isEqualTo("0A000");
        assertThat(invalid.message()).contains("2.0");
        assertThat(decoder.hasPartialPacket()).isFalse();
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "00 00 00 17  00 03 00 00  'database' 00 'shop' 00  00",
            "00 00 00 1d  00 03 00 00  'user' 00 00  'database' 00 'shop' 00  00"})
    void rejectsStartupMessageWithoutUserName(String packet) {
        for (Feeding feeding : Feeding.values()) {
            setUp();
            feeding.feed(channel, bytes(packet));

            List<Object> out = drainInbound(channel);
            assertThat(out).as(feeding.name()).singleElement().isInstanceOf(StartupPacket.Invalid.class);
            StartupPacket.Invalid invalid = (StartupPacket.Invalid) out.get(0);
            assertThat(invalid.sqlState()).isEqualTo("28000");
            assertThat(invalid.message()).contains("user name");
            assertFalse(channel.finish());
        }
    }

    static List<Arguments> badLayouts() {
        return List.of(
                Arguments.of("no parameters and no terminator", "00 00 00 08  00 03 00 00"),
                Arguments.of("missing final terminator", "00 00 00 13  00 03 00 00  'user' 00 'alice' 00"),
                Arguments.of("parameter without value", "00 00 00 1c  00 03 00 00  'user' 00 'alice' 00  'database' 00"),
                Arguments.of("parameter with empty value, then no terminator",
                        "00 00 00 1d  00 03 00 00  'user' 00 'alice' 00  'database' 00 00"),
                Arguments.of("parameter name without NUL", "00 00 00 18  00 03 00 00  'user' 00 'alice' 00  'datab'"),
                Arguments.of("bytes after the terminator", "00 00 00 15  00 03 00 00  'user' 00 'alice' 00  00 'x'"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badLayouts")
    void rejectsStartupMessageWithBadLayoutAsProtocolViolation(String name, String packet) {
        for (Feeding feeding : Feeding.values()) {
            setUp();
            feeding.feed(channel, bytes(packet));

            List<Object> out = drainInbound(channel);
            assertThat(out).as(feeding.name()).singleElement().isInstanceOf(StartupPacket.Invalid.class);
            StartupPacket.Invalid invalid = (StartupPacket.Invalid) out.get(0);
            assertThat(invalid.sqlState()).isEqualTo(SqlState.PROTOCOL_VIOLATION);
            assertThat(invalid.message()).contains("terminator");
            assertThat(decoder.hasPartialPacket()).isFalse();
            assertFalse(channel.finish());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
            "00 00 00 0c  04 d2 16 2f  00 00 00 00",
            "00 00 00 0c  04 d2 16 30  00 00 00 00",
            "00 00 00 0c  04 d2 16 2e  00 00 30 39",
            "00 00 00 14  04 d2 16 2e  00 00 30 39  de ad be ef  00 00 00 00"})
    void rejectsSpecialRequestsOfTheWrongLength(String packet) {
        Feeding.ALL_AT_ONCE.feed(channel, bytes(packet));

        List<Object> out = drainInbound(channel);
        assertThat(out).singleElement().isInstanceOf(StartupPacket.Invalid.class);
        assertThat(((StartupPacket.Invalid) out.get(0)).sqlState()).isEqualTo(SqlState.PROTOCOL_VIOLATION);
        assertFalse(channel.finish());
    }

    // ---- one packet per decode: what follows is left for the next pipeline stage ----

    @Test
    void leavesBytesAfterStartupMessageForTheNextHandler() {
        Feeding.ALL_AT_ONCE.feed(channel, bytes(MINIMAL_STARTUP_MESSAGE + QUERY_SELECT_1));

        List<Object> out = drainInbound(channel);
        assertThat(out).singleElement().isInstanceOf(StartupPacket.StartupMessage.class);
        assertHexDump(((StartupPacket.StartupMessage) out.get(0)).raw(), MINIMAL_STARTUP_MESSAGE);
        assertThat(decoder.hasPartialPacket()).as("the Query is still buffered").isTrue();

        channel.pipeline().remove(decoder);

        assertLeftoverIs(QUERY_SELECT_1);
        assertFalse(channel.finish());
    }

    @Test
    void leavesBytesForTheNextHandlerWhenTheyArriveWithTheLastByteOfTheStartupMessage() {
        byte[] startup = bytes(MINIMAL_STARTUP_MESSAGE);
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, Arrays.copyOf(startup, startup.length - 1));
        assertThat(drainInbound(channel)).isEmpty();

        Feeding.ALL_AT_ONCE.feed(channel, bytes("00" + QUERY_SELECT_1));

        assertThat(drainInbound(channel)).singleElement().isInstanceOf(StartupPacket.StartupMessage.class);
        channel.pipeline().remove(decoder);
        assertLeftoverIs(QUERY_SELECT_1);
        assertFalse(channel.finish());
    }

    @Test
    void leavesBytesPipelinedAfterSslRequestUndecodedSoTheProxyCanRefuseThem() {
        // Plaintext sent before the TLS handshake must not be mistaken for TLS-protected data (CVE-2021-23214).
        Feeding.ALL_AT_ONCE.feed(channel, bytes(SSL_REQUEST + MINIMAL_STARTUP_MESSAGE));

        assertThat(drainInbound(channel)).containsExactly(new StartupPacket.SslRequest());
        assertThat(decoder.hasPartialPacket()).isTrue();

        channel.pipeline().remove(decoder);
        assertLeftoverIs(MINIMAL_STARTUP_MESSAGE);
        assertFalse(channel.finish());
    }

    // ---- incomplete input ----

    /** EOF in the middle of a packet yields "incomplete startup packet" (08P01), then nothing more. */
    private void assertEndOfInputReportsIncompletePacket() {
        assertThat(channel.finish()).isTrue();
        Object last = channel.readInbound();
        assertThat(last).isInstanceOf(StartupPacket.Invalid.class);
        assertThat(((StartupPacket.Invalid) last).sqlState()).isEqualTo("08P01");
        assertThat(((StartupPacket.Invalid) last).message()).isEqualTo("incomplete startup packet");
        assertThat((Object) channel.readInbound()).isNull();
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void emitsNothingForATruncatedPacketAndReportsItAsPartial(Feeding feeding) {
        byte[] startup = bytes(STARTUP_MESSAGE);
        feeding.feed(channel, Arrays.copyOf(startup, startup.length - 1));

        assertThat(drainInbound(channel)).isEmpty();
        assertThat(decoder.hasPartialPacket()).isTrue();
        assertEndOfInputReportsIncompletePacket();
    }

    @Test
    void waitsForAllFourLengthBytes() {
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("00 00 00"));

        assertThat(drainInbound(channel)).isEmpty();
        assertThat(decoder.hasPartialPacket()).isTrue();
        assertEndOfInputReportsIncompletePacket();
    }

    @Test
    void hasNoPartialPacketBeforeAnyInput() {
        assertThat(decoder.hasPartialPacket()).isFalse();
        assertFalse(channel.finish());
    }

    private void assertLeftoverIs(String spec) {
        ByteBuf leftover = channel.readInbound();
        try {
            assertThat(leftover).isNotNull();
            assertHexDump(leftover, spec);
        } finally {
            if (leftover != null) {
                leftover.release();
            }
        }
        assertThat(drainInbound(channel)).isEmpty();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(a);
        out.writeBytes(b);
        return out.toByteArray();
    }
}
