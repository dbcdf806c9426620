package dev.pgmemo.protocol;

import static dev.pgmemo.protocol.HexDumpAssert.assertHexDump;
import static dev.pgmemo.protocol.HexDumpAssert.buffer;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import dev.pgmemo.protocol.BackendMessage.Authentication;
import dev.pgmemo.protocol.BackendMessage.BackendKeyData;
import dev.pgmemo.protocol.BackendMessage.CommandComplete;
import dev.pgmemo.protocol.BackendMessage.ErrorOrNotice;
import dev.pgmemo.protocol.BackendMessage.ParameterStatus;
import dev.pgmemo.protocol.BackendMessage.ReadyForQuery;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** BackendMessage decoders on hand-written frames (PostgreSQL docs 55.7), and the backend encoders as hex dumps. */
class BackendMessageTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    /** A real ErrorResponse from PostgreSQL 16 for {@code SELECT * FROM nope}. */
    private static final String UNDEFINED_TABLE_ERROR = "45 00 00 00 67"
            + "  'S' 'ERROR' 00  'V' 'ERROR' 00  'C' '42P01' 00"
            + "  'M' 'relation \"nope\" does not exist' 00"
            + "  'P' '15' 00  'F' 'parse_relation.c' 00  'L' '1449' 00  'R' 'parserOpenTable' 00"
            + "  00";

    private static <T> T decode(String frameSpec, Function<ByteBuf, T> decoder) {
        ByteBuf frame = buffer(frameSpec);
        try {
            assertThat(frame.getInt(1)).as("declared length of the hand-written frame %s", frameSpec)
                    .isEqualTo(frame.readableBytes() - 1);
            return decoder.apply(frame);
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
    void decodesReadyForQueryTransactionStatus() {
        assertThat(decode("5a 00 00 00 05  'I'", ReadyForQuery::decode).status()).isEqualTo(ReadyForQuery.IDLE);
        assertThat(decode("5a 00 00 00 05  'T'", ReadyForQuery::decode).status()).isEqualTo(ReadyForQuery.IN_TRANSACTION);
        assertThat(decode("5a 00 00 00 05  'E'", ReadyForQuery::decode).status()).isEqualTo(ReadyForQuery.FAILED);
    }

    @Test
    void rejectsReadyForQueryWithoutStatus() {
        assertThatThrownBy(() -> decode("5a 00 00 00 04", ReadyForQuery::decode)).isInstanceOf(MalformedMessageException.class);
    }

    @Test
    void decodesBackendKeyData() {
        assertThat(decode("4b 00 00 00 0c  00 00 30 39  de ad be ef", BackendKeyData::decode))
                .isEqualTo(new BackendKeyData(12345, 0xdeadbeef));
    }

    @Test
    void rejectsTruncatedBackendKeyData() {
        assertThatThrownBy(() -> decode("4b 00 00 00 08  00 00 30 39", BackendKeyData::decode))
                .isInstanceOf(MalformedMessageException.class);
    }

    @Test
    void decodesParameterStatus() {
        assertThat(decode("53 00 00 00 11  'TimeZone' 00  'UTC' 00", ParameterStatus::decode))
                .isEqualTo(new ParameterStatus("TimeZone", "UTC"));
    }

    @Test
    void rejectsParameterStatusWithoutValue() {
        assertThatThrownBy(() -> decode("53 00 00 00 0d  'TimeZone' 00", ParameterStatus::decode))
                .isInstanceOf(MalformedMessageException.class);
    }

    @Test
    void decodesCommandCompleteTag() {
        assertThat(decode("43 00 00 00 0f  'INSERT 0 1' 00", CommandComplete::decode)).isEqualTo(new CommandComplete("INSERT 0 1"));
        assertThat(decode("43 00 00 00 0b  'COMMIT' 00", CommandComplete::decode)).isEqualTo(new CommandComplete("COMMIT"));
    }

    @Test
    void decodesAuthenticationCode() {
        assertThat(decode("52 00 00 00 08  00 00 00 00", Authentication::decode).code()).isEqualTo(Authentication.OK);
        assertThat(decode("52 00 00 00 0c  00 00 00 05  01 02 03 04", Authentication::decode).code()).as("MD5").isEqualTo(5);
        assertThat(decode("52 00 00 00 17  00 00 00 0a  'SCRAM-SHA-256' 00  00", Authentication::decode).code())
                .as("SASL").isEqualTo(10);
    }

    @Test
    void rejectsAuthenticationWithTruncatedCode() {
        assertThatThrownBy(() -> decode("52 00 00 00 06  00 00", Authentication::decode))
                .isInstanceOf(MalformedMessageException.class);
    }

    @Test
    void decodesErrorResponseFieldsInOrder() {
        ErrorOrNotice error = decode(UNDEFINED_TABLE_ERROR, ErrorOrNotice::decode);

        assertThat(error.error()).isTrue();
        assertThat(error.fields()).containsExactly(
                entry('S', "ERROR"), entry('V', "ERROR"), entry('C', "42P01"),
                entry('M', "relation \"nope\" does not exist"),
                entry('P', "15"), entry('F', "parse_relation.c"), entry('L', "1449"), entry('R', "parserOpenTable"));
        assertThat(error.sqlState()).isEqualTo("42P01");
        assertThat(error.message()).isEqualTo("relation \"nope\" does not exist");
        assertThat(error.severity()).isEqualTo("ERROR");
    }

    @Test
    void severityPrefersTheNonLocalizedField() {
        // A NoticeResponse from a server with lc_messages=es: S is translated, V never is.
        ErrorOrNotice notice = decode("4e 00 00 00 21  'S' 'AVISO' 00  'V' 'NOTICE' 00  'C' '00000' 00  'M' 'hola' 00  00",
                ErrorOrNotice::decode);

        assertThat(notice.error()).isFalse();
        assertThat(notice.fields()).containsEntry('S', "AVISO");
        assertThat(notice.severity()).isEqualTo("NOTICE");
        assertThat(notice.sqlState()).isEqualTo("00000");
        assertThat(notice.message()).isEqualTo("hola");
    }

    @Test
    void severityFallsBackToTheLocalizedFieldWhenTheServerSendsNoV() {
        // Servers before 9.6 send no V field.
        ErrorOrNotice error = decode("45 00 00 00 44  'S' 'FATAL' 00  'C' '28P01' 00"
                + "  'M' 'password authentication failed for user \"alice\"' 00  00", ErrorOrNotice::decode);

        assertThat(error.severity()).isEqualTo("FATAL");
        assertThat(error.sqlState()).isEqualTo("28P01");
    }

    @Test
    void rejectsErrorFieldWithoutNul() {
        assertThatThrownBy(() -> decode("45 00 00 00 08  'S' 'ERR'", ErrorOrNotice::decode))
                .isInstanceOf(MalformedMessageException.class);
    }

    @Test
    void readsDataRowColumnsAsTextWithNullAndEmptyKeptApart() {
        String[] row = decode("44 00 00 00 1b  00 04  00 00 00 01 '1'  ff ff ff ff  00 00 00 00  00 00 00 04 'abcd'",
                BackendMessage::dataRowText);

        assertThat(row).containsExactly("1", null, "", "abcd");
    }

    @Test
    void readsDataRowColumnsAsUtf8() {
        assertThat(decode("44 00 00 00 0c  00 01  00 00 00 02 c3 a9", BackendMessage::dataRowText)).containsExactly("\u00e9");
    }

    @Test
    void rejectsTruncatedDataRow() {
        assertThatThrownBy(() -> decode("44 00 00 00 05  00", BackendMessage::dataRowText))
                .isInstanceOf(MalformedMessageException.class);
        assertThatThrownBy(() -> decode("44 00 00 00 0a  00 02  00 00 00 00", BackendMessage::dataRowText))
                .isInstanceOf(MalformedMessageException.class);
        assertThatThrownBy(() -> decode("44 00 00 00 0c  00 01  00 00 00 05 'ab'", BackendMessage::dataRowText))
                .isInstanceOf(MalformedMessageException.class);
    }

    @Test
    void readsTheTypeByteOfAFrame() {
        ByteBuf frame = buffer(UNDEFINED_TABLE_ERROR);
        try {
            assertThat(BackendMessage.type(frame)).isEqualTo(MessageType.ERROR_RESPONSE);
        } finally {
            frame.release();
        }
    }

    @Test
    void decodingLeavesTheFrameUntouchedForForwarding() {
        ByteBuf frame = buffer(UNDEFINED_TABLE_ERROR);
        try {
            ErrorOrNotice.decode(frame);

            assertThat(frame.readerIndex()).isZero();
            assertHexDump(frame, UNDEFINED_TABLE_ERROR);
        } finally {
            frame.release();
        }
    }

    // ---- encode ----

    @Test
    void encodesReadyForQuery() {
        assertEncodes(ReadyForQuery.encode(ALLOC, ReadyForQuery.IDLE), "5a 00 00 00 05  49");
        assertEncodes(ReadyForQuery.encode(ALLOC, ReadyForQuery.IN_TRANSACTION), "5a 00 00 00 05  54");
        assertEncodes(ReadyForQuery.encode(ALLOC, ReadyForQuery.FAILED), "5a 00 00 00 05  45");
    }

    @Test
    void encodesParameterStatus() {
        assertEncodes(new ParameterStatus("client_encoding", "UTF8").encode(ALLOC),
                "53 00 00 00 19  'client_encoding' 00  'UTF8' 00");
    }

    @Test
    void encodesErrorResponseWithHint() {
        assertEncodes(BackendMessage.errorResponse(ALLOC, "FATAL", SqlState.ADMIN_SHUTDOWN, "shutting down", "retry later"),
                "45 00 00 00 36  'S' 'FATAL' 00  'V' 'FATAL' 00  'C' '57P01' 00  'M' 'shutting down' 00"
                        + "  'H' 'retry later' 00  00");
    }

    @Test
    void encodesErrorResponseWithoutHint() {
        assertEncodes(BackendMessage.errorResponse(ALLOC, "FATAL", SqlState.ADMIN_SHUTDOWN, "shutting down", null),
                "45 00 00 00 29  'S' 'FATAL' 00  'V' 'FATAL' 00  'C' '57P01' 00  'M' 'shutting down' 00  00");
    }

    @Test
    void errorResponseDecodesBackToItsFields() {
        ByteBuf encoded = BackendMessage.errorResponse(ALLOC, "ERROR", SqlState.PROTOCOL_VIOLATION, "bad message: ü", "reconnect");
        try {
            ErrorOrNotice decoded = ErrorOrNotice.decode(encoded);

            assertThat(decoded.error()).isTrue();
            assertThat(decoded.fields()).containsExactly(entry('S', "ERROR"), entry('V', "ERROR"), entry('C', "08P01"),
                    entry('M', "bad message: ü"), entry('H', "reconnect"));
            assertThat(encoded.getInt(1)).isEqualTo(encoded.readableBytes() - 1);
        } finally {
            encoded.release();
        }
    }

    @Test
    void encodesCommandComplete() {
        assertEncodes(BackendMessage.commandComplete(ALLOC, "SELECT 1"), "43 00 00 00 0d  'SELECT 1' 00");
        assertEncodes(BackendMessage.commandComplete(ALLOC, "INSERT 0 1"), "43 00 00 00 0f  'INSERT 0 1' 00");
    }

    static List<Arguments> emptyMessages() {
        return List.of(
                Arguments.of("ParseComplete", MessageType.PARSE_COMPLETE, "31 00 00 00 04"),
                Arguments.of("BindComplete", MessageType.BIND_COMPLETE, "32 00 00 00 04"),
                Arguments.of("CloseComplete", MessageType.CLOSE_COMPLETE, "33 00 00 00 04"),
                Arguments.of("NoData", MessageType.NO_DATA, "6e 00 00 00 04"),
                Arguments.of("EmptyQueryResponse", MessageType.EMPTY_QUERY_RESPONSE, "49 00 00 00 04"),
                Arguments.of("PortalSuspended", MessageType.PORTAL_SUSPENDED, "73 00 00 00 04"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("emptyMessages")
    void encodesMessagesWithoutBody(String name, byte type, String expected) {
        assertEncodes(BackendMessage.empty(ALLOC, type), expected);
    }
}
