package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Backend messages pgmemo inspects or writes itself (PostgreSQL docs 55.7). DataRow and RowDescription are
 * never decoded on the proxy path; they travel as original bytes.
 */
public final class BackendMessage {
    private BackendMessage() {
    }

    /** Type byte of a complete frame. */
    public static byte type(ByteBuf frame) {
        return frame.getByte(frame.readerIndex());
    }

    private static ByteBuf body(ByteBuf frame) {
        return frame.slice(frame.readerIndex() + 5, frame.readableBytes() - 5);
    }

    /** ReadyForQuery: transaction status 'I' (idle), 'T' (in a transaction block) or 'E' (failed block). */
    public record ReadyForQuery(byte status) {
        public static final byte IDLE = 'I';
        public static final byte IN_TRANSACTION = 'T';
        public static final byte FAILED = 'E';

        public static ReadyForQuery decode(ByteBuf frame) {
            ByteBuf body = body(frame);
            Wire.requireReadable(body, 1, "ReadyForQuery status");
            return new ReadyForQuery(body.readByte());
        }

        public static ByteBuf encode(ByteBufAllocator alloc, byte status) {
            return alloc.buffer(6).writeByte(MessageType.READY_FOR_QUERY).writeInt(5).writeByte(status);
        }
    }

    /** BackendKeyData: the process id and secret key a CancelRequest must carry. */
    public record BackendKeyData(int processId, int secretKey) {
        public static BackendKeyData decode(ByteBuf frame) {
            ByteBuf body = body(frame);
            Wire.requireReadable(body, 8, "BackendKeyData");
            return new BackendKeyData(body.readInt(), body.readInt());
        }
    }

    /** ParameterStatus: a run-time parameter the server reports (TimeZone, DateStyle, ...). */
    public record ParameterStatus(String name, String value) {
        public static ParameterStatus decode(ByteBuf frame) {
            ByteBuf body = body(frame);
            return new ParameterStatus(Wire.readCString(body), Wire.readCString(body));
        }

        public ByteBuf encode(ByteBufAllocator alloc) {
            ByteBuf buf = alloc.buffer();
            int len = Wire.beginMessage(buf, MessageType.PARAMETER_STATUS);
            Wire.writeCString(buf, name);
            Wire.writeCString(buf, value);
            Wire.endMessage(buf, len);
            return buf;
        }
    }

    /** CommandComplete: the command tag, e.g. "SELECT 3", "INSERT 0 1", "COMMIT". */
    public record CommandComplete(String tag) {
        public static CommandComplete decode(ByteBuf frame) {
            return new CommandComplete(Wire.readCString(body(frame)));
        }
    }

    /**
     * DataRow columns as text (null for SQL NULL). Used only for pgmemo's own catalog queries, never on the
     * relay path.
     */
    public static String[] dataRowText(ByteBuf frame) {
        ByteBuf body = body(frame);
        Wire.requireReadable(body, 2, "DataRow column count");
        int n = body.readUnsignedShort();
        String[] out = new String[n];
        for (int i = 0; i < n; i++) {
            Wire.requireReadable(body, 4, "DataRow column length");
            int len = body.readInt();
            if (len >= 0) {
                Wire.requireReadable(body, len, "DataRow column");
                out[i] = body.toString(body.readerIndex(), len, StandardCharsets.UTF_8);
                body.skipBytes(len);
            }
        }
        return out;
    }

    /** Authentication request: its 32-bit code (0 = AuthenticationOk). */
    public record Authentication(int code) {
        public static final int OK = 0;

        public static Authentication decode(ByteBuf frame) {
            ByteBuf body = body(frame);
            Wire.requireReadable(body, 4, "Authentication code");
            return new Authentication(body.readInt());
        }
    }

    /**
     * ErrorResponse or NoticeResponse: the identified fields in order (S, V, C, M, D, H, P, ...), keyed by
     * their field type byte.
     */
    public record ErrorOrNotice(boolean error, Map<Character, String> fields) {
        public ErrorOrNotice {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        public String sqlState() {
            return fields.get('C');
        }

        public String message() {
            return fields.get('M');
        }

        public String severity() {
            String v = fields.get('V');
            return v != null ? v : fields.get('S');
        }

        public static ErrorOrNotice decode(ByteBuf frame) {
            boolean error = type(frame) == MessageType.ERROR_RESPONSE;
            ByteBuf body = body(frame);
            Map<Character, String> fields = new LinkedHashMap<>();
            while (body.isReadable()) {
                byte code = body.readByte();
                if (code == 0) {
                    break;
                }
                fields.put((char) code, Wire.readCString(body));
            }
            return new ErrorOrNotice(error, fields);
        }
    }

    /** Encodes an ErrorResponse with severity (ERROR or FATAL), SQLSTATE, message and an optional hint. */
    public static ByteBuf errorResponse(ByteBufAllocator alloc, String severity, String sqlState, String message, String hint) {
        ByteBuf buf = alloc.buffer();
        int len = Wire.beginMessage(buf, MessageType.ERROR_RESPONSE);
        field(buf, 'S', severity);
        field(buf, 'V', severity);
        field(buf, 'C', sqlState);
        field(buf, 'M', message);
        if (hint != null) {
            field(buf, 'H', hint);
        }
        buf.writeByte(0);
        Wire.endMessage(buf, len);
        return buf;
    }

    private static void field(ByteBuf buf, char code, String value) {
        buf.writeByte(code);
        Wire.writeCString(buf, value);
    }

    /** A message with no body: ParseComplete, BindComplete, CloseComplete, NoData, EmptyQueryResponse, PortalSuspended. */
    public static ByteBuf empty(ByteBufAllocator alloc, byte type) {
        return alloc.buffer(5).writeByte(type).writeInt(4);
    }

    /** Encodes a CommandComplete with the given tag. */
    public static ByteBuf commandComplete(ByteBufAllocator alloc, String tag) {
        ByteBuf buf = alloc.buffer(6 + tag.length());
        int len = Wire.beginMessage(buf, MessageType.COMMAND_COMPLETE);
        buf.writeCharSequence(tag, StandardCharsets.UTF_8);
        buf.writeByte(0);
        Wire.endMessage(buf, len);
        return buf;
    }
}
