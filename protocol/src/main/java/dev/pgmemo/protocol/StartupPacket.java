package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The untyped packets of the startup phase (PostgreSQL docs 55.2.1, "Start-up"): a length, a 32-bit code,
 * then a body. The code is either a protocol version (StartupMessage) or one of the special request codes.
 */
public sealed interface StartupPacket {

    int SSL_REQUEST_CODE = 80877103;
    int GSSENC_REQUEST_CODE = 80877104;
    int CANCEL_REQUEST_CODE = 80877102;
    int PROTOCOL_3_0 = 3 << 16;
    /** PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
    int MAX_STARTUP_PACKET_LENGTH = 10000;

    /** StartupMessage: protocol version and the parameters in the order the client sent them. */
    record StartupMessage(int protocolVersion, Map<String, String> parameters, byte[] raw) implements StartupPacket {
        public StartupMessage {
            parameters = Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        }

        public int majorVersion() {
            return protocolVersion >>> 16;
        }

        public int minorVersion() {
            return protocolVersion & 0xFFFF;
        }

        public String user() {
            return parameters.get("user");
        }

        /** The database, which defaults to the user name (as in PostgreSQL). */
        public String database() {
            String db = parameters.get("database");
            return db == null || db.isEmpty() ? user() : db;
        }

        /** Encodes a StartupMessage with the given parameters (used by tests and by upstream-only connections). */
        public static StartupMessage of(Map<String, String> parameters) {
            ByteBuf buf = Unpooled.buffer();
            buf.writeInt(0);
            buf.writeInt(PROTOCOL_3_0);
            parameters.forEach((k, v) -> {
                Wire.writeCString(buf, k);
                Wire.writeCString(buf, v);
            });
            buf.writeByte(0);
            buf.setInt(0, buf.writerIndex());
            byte[] raw = new byte[buf.readableBytes()];
            buf.readBytes(raw);
            return new StartupMessage(PROTOCOL_3_0, parameters, raw);
        }
    }

    /** SSLRequest: the client asks whether TLS is available; the answer is one byte, 'S' or 'N'. */
    record SslRequest() implements StartupPacket {
        public static byte[] encode() {
            return new byte[] {0, 0, 0, 8, 0x04, (byte) 0xd2, 0x16, 0x2f};
        }
    }

    /** GSSENCRequest: the client asks for GSSAPI encryption; pgmemo always answers 'N'. */
    record GssEncRequest() implements StartupPacket {
    }

    /** CancelRequest: sent on a new connection; carries the target backend's process id and secret key. */
    record CancelRequest(int processId, int secretKey) implements StartupPacket {
        public byte[] encode() {
            ByteBuf buf = Unpooled.buffer(16);
            buf.writeInt(16).writeInt(CANCEL_REQUEST_CODE).writeInt(processId).writeInt(secretKey);
            return buf.array();
        }
    }

    /** A packet pgmemo refuses; {@code sqlState} and {@code message} go back to the client in an ErrorResponse. */
    record Invalid(String sqlState, String message) implements StartupPacket {
    }

    /**
     * Decodes one complete packet whose first 4 bytes (the length) have already been validated to lie in
     * [8, MAX_STARTUP_PACKET_LENGTH] and whose whole body is readable; consumes exactly {@code length} bytes.
     */
    static StartupPacket decode(ByteBuf in, int length) {
        int start = in.readerIndex();
        in.skipBytes(4);
        int code = in.readInt();
        try {
            switch (code) {
                case SSL_REQUEST_CODE:
                    return length == 8 ? new SslRequest() : new Invalid(SqlState.PROTOCOL_VIOLATION, "invalid length of SSL request packet");
                case GSSENC_REQUEST_CODE:
                    return length == 8 ? new GssEncRequest() : new Invalid(SqlState.PROTOCOL_VIOLATION, "invalid length of GSSENC request packet");
                case CANCEL_REQUEST_CODE:
                    if (length != 16) {
                        return new Invalid(SqlState.PROTOCOL_VIOLATION, "invalid length of cancel request packet");
                    }
                    return new CancelRequest(in.readInt(), in.readInt());
                default:
                    return decodeStartupMessage(in, start, length, code);
            }
        } finally {
            in.readerIndex(start + length);
        }
    }

    private static StartupPacket decodeStartupMessage(ByteBuf in, int start, int length, int version) {
        int major = version >>> 16;
        if (major != 3) {
            return new Invalid(SqlState.FEATURE_NOT_SUPPORTED, "unsupported frontend protocol " + major + "." + (version & 0xFFFF)
                    + ": server supports 3.0 to 3.0");
        }
        ByteBuf body = in.slice(in.readerIndex(), start + length - in.readerIndex());
        Map<String, String> params = new LinkedHashMap<>();
        try {
            while (true) {
                if (!body.isReadable()) {
                    return new Invalid(SqlState.PROTOCOL_VIOLATION, "invalid startup packet layout: expected terminator as last byte");
                }
                String name = Wire.readCString(body);
                if (name.isEmpty()) {
                    break;
                }
                String value = Wire.readCString(body);
                params.put(name, value);
            }
        } catch (MalformedMessageException e) {
            return new Invalid(SqlState.PROTOCOL_VIOLATION, "invalid startup packet layout: expected terminator as last byte");
        }
        if (body.isReadable()) {
            return new Invalid(SqlState.PROTOCOL_VIOLATION, "invalid startup packet layout: expected terminator as last byte");
        }
        if (params.get("user") == null || params.get("user").isEmpty()) {
            return new Invalid("28000", "no PostgreSQL user name specified in startup packet");
        }
        byte[] raw = new byte[length];
        in.getBytes(start, raw);
        return new StartupMessage(version, params, raw);
    }
}
