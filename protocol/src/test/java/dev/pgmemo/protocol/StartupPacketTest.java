package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.Feeding.drainInbound;
import static dev.pgmemo.protocol.HexDumpAssert.assertHexDump;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.channel.embedded.EmbeddedChannel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The startup-phase encoders as hex dumps, their round trip through StartupDecoder, and StartupMessage accessors. */
class StartupPacketTest {

    private static Map<String, String> params(String... keysAndValues) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return m;
    }

    private static StartupPacket decodeWithStartupDecoder(byte[] packet) {
        EmbeddedChannel channel = new EmbeddedChannel(new StartupDecoder());
        Feeding.ALL_AT_ONCE.feed(channel, packet);
        List<Object> out = drainInbound(channel);
        assertFalse(channel.finish());
        assertThat(out).hasSize(1);
        return (StartupPacket) out.get(0);
    }

    @Test
    void specialRequestCodesAreThoseOfTheDocs() {
        // PostgreSQL docs 55.7: 1234 in the most significant 16 bits, 5678/5679/5680 in the least.
        assertThat(StartupPacket.CANCEL_REQUEST_CODE).isEqualTo(1234 << 16 | 5678);
        assertThat(StartupPacket.SSL_REQUEST_CODE).isEqualTo(1234 << 16 | 5679);
        assertThat(StartupPacket.GSSENC_REQUEST_CODE).isEqualTo(1234 << 16 | 5680);
        assertThat(StartupPacket.PROTOCOL_3_0).isEqualTo(0x00030000);
    }

    @Test
    void encodesStartupMessageWithParametersInOrder() {
        StartupPacket.StartupMessage msg = StartupPacket.StartupMessage.of(params("user", "alice", "database", "shop"));

        assertHexDump(msg.raw(), "00 00 00 22  00 03 00 00  'user' 00 'alice' 00  'database' 00 'shop' 00  00");
        assertThat(msg.protocolVersion()).isEqualTo(StartupPacket.PROTOCOL_3_0);
        assertThat(msg.parameters()).containsExactly(entry("user", "alice"), entry("database", "shop"));
    }

    @Test
    void encodesStartupMessageLengthInUtf8Bytes() {
        StartupPacket.StartupMessage msg = StartupPacket.StartupMessage.of(params("user", "jos\u00e9"));

        assertHexDump(msg.raw(), "00 00 00 14  00 03 00 00  'user' 00 'jos' c3 a9 00  00");
    }

    @Test
    void encodedStartupMessageDecodesToTheSameParametersAndBytes() {
        StartupPacket.StartupMessage sent = StartupPacket.StartupMessage.of(
                params("user", "alice", "database", "shop", "application_name", "pgmemo", "client_encoding", "UTF8"));

        StartupPacket received = decodeWithStartupDecoder(sent.raw());

        assertThat(received).isInstanceOf(StartupPacket.StartupMessage.class);
        StartupPacket.StartupMessage msg = (StartupPacket.StartupMessage) received;
        assertThat(msg.parameters()).containsExactlyEntriesOf(sent.parameters());
        assertThat(msg.raw()).isEqualTo(sent.raw());
    }

    @Test
    void encodesSslRequest() {
        assertHexDump(StartupPacket.SslRequest.encode(), "00 00 00 08  04 d2 16 2f");
    }

    @Test
    void encodedSslRequestDecodesAsSslRequest() {
        assertThat(decodeWithStartupDecoder(StartupPacket.SslRequest.encode())).isEqualTo(new StartupPacket.SslRequest());
    }

    @Test
    void encodesCancelRequest() {
        assertHexDump(new StartupPacket.CancelRequest(12345, 0xdeadbeef).encode(),
                "00 00 00 10  04 d2 16 2e  00 00 30 39  de ad be ef");
    }

    @Test
    void encodedCancelRequestDecodesToTheSameProcessAndKey() {
        StartupPacket.CancelRequest cancel = new StartupPacket.CancelRequest(Integer.MAX_VALUE, Integer.MIN_VALUE);

        assertThat(decodeWithStartupDecoder(cancel.encode())).isEqualTo(cancel);
    }

    @Test
    void databaseDefaultsToTheUserName() {
        assertThat(StartupPacket.StartupMessage.of(params("user", "alice")).database()).isEqualTo("alice");
        assertThat(StartupPacket.StartupMessage.of(params("user", "alice", "database", "")).database()).isEqualTo("alice");
        assertThat(StartupPacket.StartupMessage.of(params("user", "alice", "database", "shop")).database()).isEqualTo("shop");
    }

    @Test
    void parametersAreACopyThatCannotBeModified() {
        Map<String, String> source = params("user", "alice");
        StartupPacket.StartupMessage msg = StartupPacket.StartupMessage.of(source);

        source.put("database", "other");

        assertThat(msg.parameters()).containsExactly(entry("user", "alice"));
        assertThatThrownBy(() -> msg.parameters().put("user", "mallory")).isInstanceOf(UnsupportedOperationException.class);
    }
}
