package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.HexDumpAssert.bytes;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** FrameScanner sees the same messages as FrameDecoder frames, however the stream is cut into buffers. */
class FrameScannerTest {
    private static final String PARSE = "50 00 00 00 17  's1' 00  'SELECT $1' 00  00 01  00 00 00 17";
    private static final String BIND = "42 00 00 00 13  00  's1' 00  00 00  00 01  00 00 00 01 '7'  00 00";
    private static final String EXECUTE = "45 00 00 00 09  00  00 00 00 00";
    private static final String SYNC = "53 00 00 00 04";
    private static final String READY_IN_TX = "5a 00 00 00 05 'T'";
    private static final String TERMINATE = "58 00 00 00 04";
    private static final String QUERY_SELECT_1 = "51 00 00 00 0d  'SELECT 1' 00";

    private static final List<String> EXPECTED = List.of("P:115", "B:0", "E:0", "S:-1", "Z:84", "Q:83", "S:-1");

    private static byte[] stream() {
        return bytes(PARSE + BIND + EXECUTE + SYNC + READY_IN_TX + QUERY_SELECT_1 + SYNC);
    }

    /** Scans {@code data} cut at {@code cuts}; returns the messages seen and checks each scan consumed its buffer. */
    private static List<String> scanInPieces(FrameScanner scanner, byte[] data, int[] cuts) {
        List<String> seen = new ArrayList<>();
        int from = 0;
        for (int k = 0; k <= cuts.length; k++) {
            int to = k < cuts.length ? cuts[k] : data.length;
            // Non-zero reader index: the scanner must work on the readable part only.
            ByteBuf buf = Unpooled.buffer().writeZero(3).writeBytes(data, from, to - from).skipBytes(3);
            int stop = scanner.scan(buf, (type, first) -> {
                seen.add((char) type + ":" + first);
                return false;
            });
            assertThat(stop).isEqualTo(buf.writerIndex());
            from = to;
        }
        return seen;
    }

    @Test
    void seesEveryMessageWithItsFirstBodyByteWhenAllIsInOneBuffer() {
        assertThat(scanInPieces(new FrameScanner(1 << 20), stream(), new int[0])).isEqualTo(EXPECTED);
    }

    @Test
    void seesTheSameMessagesOneByteAtATime() {
        byte[] data = stream();
        int[] cuts = new int[data.length - 1];
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = i + 1;
        }
        assertThat(scanInPieces(new FrameScanner(1 << 20), data, cuts)).isEqualTo(EXPECTED);
    }

    @Test
    void seesTheSameMessagesWhereverTheStreamIsCut() {
        byte[] data = stream();
        Random random = new Random(42);
        for (int round = 0; round < 2000; round++) {
            int n = random.nextInt(6);
            int[] cuts = random.ints(n, 0, data.length + 1).sorted().toArray();
            assertThat(scanInPieces(new FrameScanner(1 << 20), data, cuts)).as("cuts %s", java.util.Arrays.toString(cuts))
                    .isEqualTo(EXPECTED);
        }
    }

    @Test
    void stopsRightAfterTheMessageTheListenerStopsAt() {
        byte[] data = bytes(SYNC + TERMINATE + QUERY_SELECT_1);
        for (int cut = 0; cut <= data.length; cut++) {
            FrameScanner scanner = new FrameScanner(1 << 20);
            ByteBuf first = Unpooled.wrappedBuffer(data, 0, cut);
            ByteBuf second = Unpooled.wrappedBuffer(data, cut, data.length - cut);
            int stop = scanner.scan(first, (type, b) -> type == 'X');
            if (cut >= 10) {
                assertThat(stop).as("cut %d", cut).isEqualTo(10);
                continue;
            }
            assertThat(stop).isEqualTo(cut);
            int stop2 = scanner.scan(second, (type, b) -> type == 'X');
            assertThat(cut + stop2).as("cut %d", cut).isEqualTo(10);
        }
    }

    @Test
    void stopsAtABadLengthWithTheDecodersMessage() {
        byte[] data = bytes(SYNC + "51 00 00 00 02");
        for (int cut = 0; cut <= data.length; cut++) {
            FrameScanner scanner = new FrameScanner(1 << 20);
            List<String> seen = new ArrayList<>();
            FrameScanner.Listener l = (type, b) -> seen.add((char) type + ":" + b) && false;
            int stop1 = scanner.scan(Unpooled.wrappedBuffer(data, 0, cut), l);
            int stop2 = scanner.scan(Unpooled.wrappedBuffer(data, cut, data.length - cut), l);
            assertThat(seen).isEqualTo(List.of("S:-1"));
            assertThat(scanner.error()).isEqualTo("invalid message length 2 for message type 'Q'");
            if (cut <= 5) {
                assertThat(stop1).isEqualTo(cut);
                assertThat(stop2).as("cut %d", cut).isEqualTo(5 - cut);
            } else if (cut < data.length) {
                // The start of the bad header went by before its length was known.
                assertThat(stop1).isEqualTo(cut);
                assertThat(stop2).as("cut %d", cut).isZero();
            } else {
                assertThat(stop1).isEqualTo(5);
            }
        }
    }

    @Test
    void refusesMessagesAboveTheLimit() {
        FrameScanner scanner = new FrameScanner(64);
        int stop = scanner.scan(Unpooled.wrappedBuffer(bytes("44 00 00 00 41 'P' 00")), (t, b) -> false);
        assertThat(stop).isZero();
        assertThat(scanner.error()).isEqualTo("message of type 'D' is 65 bytes, above the limit of 64");
        // Nothing after a bad length is scanned.
        assertThat(scanner.scan(Unpooled.wrappedBuffer(bytes(SYNC)), (t, b) -> false)).isZero();
    }

    @Test
    void skipsLargeBodiesSpreadOverManyBuffers() {
        FrameScanner scanner = new FrameScanner(1 << 20);
        List<String> seen = new ArrayList<>();
        FrameScanner.Listener l = (type, b) -> seen.add((char) type + ":" + b) && false;
        ByteBuf header = Unpooled.buffer().writeByte('D').writeInt(4 + 10_000).writeByte(7);
        assertThat(scanner.scan(header, l)).isEqualTo(6);
        for (int i = 0; i < 9; i++) {
            assertThat(scanner.scan(Unpooled.wrappedBuffer(new byte[1111]), l)).isEqualTo(1111);
        }
        // 9999 - 9 * 1111 = 0 body bytes left: the next byte starts a message.
        assertThat(scanner.scan(Unpooled.wrappedBuffer(bytes(SYNC)), l)).isEqualTo(5);
        assertThat(seen).isEqualTo(List.of("D:7", "S:-1"));
    }
}
