package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.Feeding.drainInbound;
import static dev.pgmemo.protocol.HexDumpAssert.assertHexDump;
import static dev.pgmemo.protocol.HexDumpAssert.bytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** FrameDecoder in an EmbeddedChannel: each typed message becomes one buffer holding its original bytes. */
class FrameDecoderTest {
    private static final int MAX = 64;

    // An extended-query batch as pgjdbc sends it (PostgreSQL docs 55.7).
    private static final String PARSE = "50 00 00 00 17  's1' 00  'SELECT $1' 00  00 01  00 00 00 17";
    private static final String BIND = "42 00 00 00 13  00  's1' 00  00 00  00 01  00 00 00 01 '7'  00 00";
    private static final String DESCRIBE_PORTAL = "44 00 00 00 06  'P' 00";
    private static final String EXECUTE = "45 00 00 00 09  00  00 00 00 00";
    private static final String SYNC = "53 00 00 00 04";
    private static final String QUERY_SELECT_1 = "51 00 00 00 0d  'SELECT 1' 00";

    private EmbeddedChannel channel;
    /** Everything emitted, released after each test so that paranoid leak detection sees no leak of ours. */
    private final List<Object> emitted = new ArrayList<>();

    @BeforeEach
    void setUp() {
        channel = new EmbeddedChannel(new FrameDecoder(MAX));
    }

    @AfterEach
    void releaseEmitted() {
        emitted.forEach(ReferenceCountUtil::release);
        emitted.clear();
        channel.finishAndReleaseAll();
    }

    private List<Object> drain() {
        List<Object> out = drainInbound(channel);
        emitted.addAll(out);
        return out;
    }

    @Test
    void splitsSeveralMessagesInOneBufferIntoFramesHoldingTheOriginalBytes() {
        ByteBuf input = ByteBufAllocator.DEFAULT.buffer().writeBytes(bytes(PARSE + BIND + DESCRIBE_PORTAL + EXECUTE + SYNC));
        input.retain(); // keep one reference to observe that the decoder and its frames give theirs back

        channel.writeInbound(input);

        List<Object> frames = drain();
        assertThat(frames).hasSize(5).allSatisfy(f -> assertThat(f).isInstanceOf(ByteBuf.class));
        assertHexDump((ByteBuf) frames.get(0), PARSE);
        assertHexDump((ByteBuf) frames.get(1), BIND);
        assertHexDump((ByteBuf) frames.get(2), DESCRIBE_PORTAL);
        assertHexDump((ByteBuf) frames.get(3), EXECUTE);
        assertHexDump((ByteBuf) frames.get(4), SYNC);
        assertFalse(channel.finish());

        emitted.forEach(ReferenceCountUtil::release);
        emitted.clear();
        assertThat(input.refCnt()).as("only the test's own reference is left").isEqualTo(1);
        input.release();
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void framesAnExtendedQueryBatchWhateverTheChunking(Feeding feeding) {
        feeding.feed(channel, bytes(PARSE + BIND + DESCRIBE_PORTAL + EXECUTE + SYNC));

        List<Object> frames = drain();
        assertThat(frames).hasSize(5);
        assertHexDump((ByteBuf) frames.get(0), PARSE);
        assertHexDump((ByteBuf) frames.get(1), BIND);
        assertHexDump((ByteBuf) frames.get(2), DESCRIBE_PORTAL);
        assertHexDump((ByteBuf) frames.get(3), EXECUTE);
        assertHexDump((ByteBuf) frames.get(4), SYNC);
        assertFalse(channel.finish());
    }

    @Test
    void reassemblesAMessageSplitAcrossOneByteWrites() {
        byte[] query = bytes(QUERY_SELECT_1);
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, Arrays.copyOf(query, query.length - 1));
        assertThat(drain()).as("nothing before the last byte").isEmpty();

        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, new byte[] {query[query.length - 1]});

        List<Object> frames = drain();
        assertThat(frames).hasSize(1);
        assertHexDump((ByteBuf) frames.get(0), QUERY_SELECT_1);
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void framesAMessageWithAnEmptyBody(Feeding feeding) {
        feeding.feed(channel, bytes(SYNC + SYNC));

        List<Object> frames = drain();
        assertThat(frames).hasSize(2);
        assertHexDump((ByteBuf) frames.get(0), SYNC);
        assertHexDump((ByteBuf) frames.get(1), SYNC);
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void framesMessageTypesItDoesNotKnowWithoutLookingInside(Feeding feeding) {
        // CopyData ('d') with a body that is not valid as anything else.
        feeding.feed(channel, bytes("64 00 00 00 07  ff 00 ff"));

        List<Object> frames = drain();
        assertThat(frames).hasSize(1);
        assertHexDump((ByteBuf) frames.get(0), "64 00 00 00 07  ff 00 ff");
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void acceptsLengthExactlyAtTheMaximum(Feeding feeding) {
        // Length 64 = 4 (itself) + 59 characters of SQL + NUL.
        String atMax = "51 00 00 00 40 '" + "x".repeat(59) + "' 00";
        assertThat(bytes(atMax)).hasSize(MAX + 1);

        feeding.feed(channel, bytes(atMax + SYNC));

        List<Object> frames = drain();
        assertThat(frames).hasSize(2);
        assertHexDump((ByteBuf) frames.get(0), atMax);
        assertHexDump((ByteBuf) frames.get(1), SYNC);
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void rejectsLengthAboveTheMaximumAndDiscardsTheRest(Feeding feeding) {
        feeding.feed(channel, bytes("51 00 00 00 41 '" + "x".repeat(60) + "' 00"));
        feeding.feed(channel, bytes(SYNC + QUERY_SELECT_1));

        FrameDecoder.FrameError error = singleFrameError(drain());
        assertThat(error.type()).isEqualTo((byte) 'Q');
        assertThat(error.declaredLength()).isEqualTo(65);
        assertThat(error.message()).contains("65").contains("64");
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void rejectsLengthBelowFourAndDiscardsTheRest(Feeding feeding) {
        feeding.feed(channel, bytes("51 00 00 00 03"));
        feeding.feed(channel, bytes(SYNC + QUERY_SELECT_1));

        FrameDecoder.FrameError error = singleFrameError(drain());
        assertThat(error.type()).isEqualTo((byte) 'Q');
        assertThat(error.declaredLength()).isEqualTo(3);
        assertThat(error.message()).contains("invalid message length 3").contains("'Q'");
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void rejectsZeroLengthAndDiscardsTheRest(Feeding feeding) {
        feeding.feed(channel, bytes("53 00 00 00 00" + SYNC));

        FrameDecoder.FrameError error = singleFrameError(drain());
        assertThat(error.declaredLength()).isZero();
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void rejectsNegativeLengthAndDiscardsTheRest(Feeding feeding) {
        feeding.feed(channel, bytes("51 ff ff ff ff"));
        feeding.feed(channel, bytes(SYNC + QUERY_SELECT_1));

        FrameDecoder.FrameError error = singleFrameError(drain());
        assertThat(error.type()).isEqualTo((byte) 'Q');
        assertThat(error.declaredLength()).as("the Int32 read unsigned").isEqualTo(0xFFFFFFFFL);
        assertFalse(channel.finish());
    }

    @Test
    void reportsABadLengthAsSoonAsTheHeaderArrivesWithoutWaitingForTheBody() {
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("51 7f ff ff"));
        assertThat(drain()).isEmpty();

        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("ff"));

        assertThat(singleFrameError(drain()).declaredLength()).isEqualTo(0x7fffffffL);
        assertFalse(channel.finish());
    }

    @Test
    void emitsTheFramesBeforeABadLengthAndNothingAfterIt() {
        Feeding.ALL_AT_ONCE.feed(channel, bytes(SYNC + QUERY_SELECT_1 + "51 00 00 00 02" + SYNC));

        List<Object> out = drain();
        assertThat(out).hasSize(3);
        assertHexDump((ByteBuf) out.get(0), SYNC);
        assertHexDump((ByteBuf) out.get(1), QUERY_SELECT_1);
        assertThat(out.get(2)).isInstanceOf(FrameDecoder.FrameError.class);
        assertFalse(channel.finish());
    }

    @Test
    void namesANonPrintableTypeByteInHex() {
        Feeding.ALL_AT_ONCE.feed(channel, bytes("00 00 00 00 01"));

        FrameDecoder.FrameError error = singleFrameError(drain());
        assertThat(error.type()).isZero();
        assertThat(error.message()).contains("\\x00");
        assertFalse(channel.finish());
    }

    @ParameterizedTest
    @EnumSource(Feeding.class)
    void emitsNothingForATruncatedFrameEvenAtEndOfStream(Feeding feeding) {
        byte[] query = bytes(QUERY_SELECT_1);
        feeding.feed(channel, Arrays.copyOf(query, query.length - 3));

        assertThat(drain()).isEmpty();
        assertFalse(channel.finish());
        assertThat(drain()).isEmpty();
    }

    @Test
    void waitsForTheWholeHeader() {
        Feeding.ONE_BYTE_AT_A_TIME.feed(channel, bytes("51 00 00 00"));

        assertThat(drain()).isEmpty();
        assertFalse(channel.finish());
    }

    @Test
    void defaultMaximumIsInclusiveAndAdmitsEverythingPostgresAdmits() {
        // PostgreSQL accepts Query/Parse/Bind up to PQ_LARGE_MESSAGE_LIMIT = MaxAllocSize - 1 = 0x3ffffffe.
        assertThat(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE).isGreaterThanOrEqualTo(0x3ffffffeL);

        // Only the header of a maximal Query: no error, the decoder waits for the body.
        EmbeddedChannel defaults = new EmbeddedChannel(new FrameDecoder(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE));
        Feeding.ALL_AT_ONCE.feed(defaults, header('Q', FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE));
        assertThat(drainInbound(defaults)).isEmpty();
        assertFalse(defaults.finish());

        defaults = new EmbeddedChannel(new FrameDecoder(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE));
        Feeding.ALL_AT_ONCE.feed(defaults, header('Q', FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE + 1));
        assertThat(drainInbound(defaults)).singleElement().isInstanceOf(FrameDecoder.FrameError.class);
        assertFalse(defaults.finish());
    }

    private static byte[] header(char type, long length) {
        return new byte[] {(byte) type, (byte) (length >>> 24), (byte) (length >>> 16), (byte) (length >>> 8), (byte) length};
    }

    private static FrameDecoder.FrameError singleFrameError(List<Object> out) {
        assertThat(out).singleElement().isInstanceOf(FrameDecoder.FrameError.class);
        return (FrameDecoder.FrameError) out.get(0);
    }
}
