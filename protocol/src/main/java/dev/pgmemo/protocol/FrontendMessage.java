package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * The frontend messages pgmemo acts on (PostgreSQL docs 55.7). Each record decodes from a complete frame
 * (type byte included) and carries only Strings and byte arrays, never pooled buffers. Messages pgmemo
 * does not act on are relayed as their original bytes and never decoded.
 */
public sealed interface FrontendMessage {

    /**
     * Decodes a complete frame, or returns null when pgmemo does not act on this message type. A message PostgreSQL
     * would refuse (bytes after its last field, an unknown Describe/Close kind, format codes that do not match the
     * parameters, text that is not valid UTF-8) is a {@link MalformedMessageException}: pgmemo then leaves it, and
     * the answer, to PostgreSQL.
     */
    static FrontendMessage decode(ByteBuf frame) {
        byte type = frame.getByte(frame.readerIndex());
        int bodyLength = frame.readableBytes() - 5;
        switch (type) {
            case MessageType.SYNC, MessageType.FLUSH, MessageType.TERMINATE -> {
                if (bodyLength != 0) {
                    throw new MalformedMessageException("invalid message format");
                }
                return type == MessageType.SYNC ? Sync.INSTANCE : type == MessageType.FLUSH ? Flush.INSTANCE : Terminate.INSTANCE;
            }
            case MessageType.QUERY, MessageType.PARSE, MessageType.BIND, MessageType.DESCRIBE, MessageType.EXECUTE,
                    MessageType.CLOSE -> {
            }
            default -> {
                return null;
            }
        }
        ByteBuf body = frame.slice(frame.readerIndex() + 5, bodyLength); // the body only; no copy
        FrontendMessage msg = switch (type) {
            case MessageType.QUERY -> Query.decode(body);
            case MessageType.PARSE -> Parse.decode(body);
            case MessageType.BIND -> Bind.decode(body);
            case MessageType.DESCRIBE -> Describe.decode(body);
            case MessageType.EXECUTE -> Execute.decode(body);
            default -> Close.decode(body);
        };
        if (body.isReadable()) {
            throw new MalformedMessageException("invalid message format");
        }
        return msg;
    }

    private static byte readKind(ByteBuf body, String what) {
        Wire.requireReadable(body, 1, what);
        byte kind = body.readByte();
        if (kind != 'S' && kind != 'P') {
            throw new MalformedMessageException("invalid " + what + " " + kind);
        }
        return kind;
    }

    /** Simple query: one string that may hold several statements. */
    record Query(String sql) implements FrontendMessage {
        static Query decode(ByteBuf body) {
            return new Query(Wire.readUtf8CString(body));
        }

        public ByteBuf encode(ByteBufAllocator alloc) {
            ByteBuf buf = alloc.buffer();
            int len = Wire.beginMessage(buf, MessageType.QUERY);
            Wire.writeCString(buf, sql);
            Wire.endMessage(buf, len);
            return buf;
        }
    }

    /** Parse: a statement name ("" = unnamed), the SQL, and parameter type OIDs (0 = unspecified). */
    record Parse(String name, String sql, int[] parameterTypes) implements FrontendMessage {
        static Parse decode(ByteBuf body) {
            String name = Wire.readUtf8CString(body);
            String sql = Wire.readUtf8CString(body);
            Wire.requireReadable(body, 2, "Parse parameter count");
            int n = body.readUnsignedShort();
            Wire.requireReadable(body, 4 * n, "Parse parameter types");
            int[] types = new int[n];
            for (int i = 0; i < n; i++) {
                types[i] = body.readInt();
            }
            return new Parse(name, sql, types);
        }

        public ByteBuf encode(ByteBufAllocator alloc) {
            ByteBuf buf = alloc.buffer();
            int len = Wire.beginMessage(buf, MessageType.PARSE);
            Wire.writeCString(buf, name);
            Wire.writeCString(buf, sql);
            buf.writeShort(parameterTypes.length);
            for (int t : parameterTypes) {
                buf.writeInt(t);
            }
            Wire.endMessage(buf, len);
            return buf;
        }
    }

    /**
     * Bind: portal, statement, parameter format codes, parameter values (null = SQL NULL) and result format
     * codes, exactly as sent.
     */
    record Bind(String portal, String statement, short[] parameterFormats, byte[][] values, short[] resultFormats)
            implements FrontendMessage {
        static Bind decode(ByteBuf body) {
            String portal = Wire.readUtf8CString(body);
            String statement = Wire.readUtf8CString(body);
            short[] paramFormats = readShorts(body, "Bind parameter formats");
            Wire.requireReadable(body, 2, "Bind parameter count");
            int n = body.readUnsignedShort();
            byte[][] values = new byte[n][];
            for (int i = 0; i < n; i++) {
                Wire.requireReadable(body, 4, "Bind parameter length");
                int len = body.readInt();
                if (len == -1) {
                    values[i] = null;
                } else if (len < 0) {
                    throw new MalformedMessageException("invalid parameter length " + len + " in Bind");
                } else {
                    Wire.requireReadable(body, len, "Bind parameter value");
                    values[i] = new byte[len];
                    body.readBytes(values[i]);
                }
            }
            short[] resultFormats = readShorts(body, "Bind result formats");
            if (paramFormats.length > 1 && paramFormats.length != n) {
                throw new MalformedMessageException("bind message has " + paramFormats.length
                        + " parameter formats but " + n + " parameters");
            }
            requireFormatCodes(paramFormats);
            requireFormatCodes(resultFormats);
            return new Bind(portal, statement, paramFormats, values, resultFormats);
        }

        private static void requireFormatCodes(short[] formats) {
            for (short f : formats) {
                if (f != 0 && f != 1) {
                    throw new MalformedMessageException("unsupported format code: " + f);
                }
            }
        }

        private static short[] readShorts(ByteBuf body, String what) {
            Wire.requireReadable(body, 2, what);
            int n = body.readUnsignedShort();
            Wire.requireReadable(body, 2 * n, what);
            short[] out = new short[n];
            for (int i = 0; i < n; i++) {
                out[i] = body.readShort();
            }
            return out;
        }
    }

    /** Describe: 'S' for a prepared statement, 'P' for a portal. */
    record Describe(byte kind, String name) implements FrontendMessage {
        static Describe decode(ByteBuf body) {
            byte kind = readKind(body, "Describe kind");
            return new Describe(kind, Wire.readUtf8CString(body));
        }
    }

    /** Execute: a portal and a row limit (0 = no limit). */
    record Execute(String portal, int maxRows) implements FrontendMessage {
        static Execute decode(ByteBuf body) {
            String portal = Wire.readUtf8CString(body);
            Wire.requireReadable(body, 4, "Execute row limit");
            return new Execute(portal, body.readInt());
        }
    }

    /** Close: 'S' for a prepared statement, 'P' for a portal. */
    record Close(byte kind, String name) implements FrontendMessage {
        static Close decode(ByteBuf body) {
            byte kind = readKind(body, "Close kind");
            return new Close(kind, Wire.readUtf8CString(body));
        }

        public ByteBuf encode(ByteBufAllocator alloc) {
            ByteBuf buf = alloc.buffer();
            int len = Wire.beginMessage(buf, MessageType.CLOSE);
            buf.writeByte(kind);
            Wire.writeCString(buf, name);
            Wire.endMessage(buf, len);
            return buf;
        }
    }

    /** Sync: ends an extended-query batch; the server answers ReadyForQuery. */
    enum Sync implements FrontendMessage {
        INSTANCE;

        public static ByteBuf encode(ByteBufAllocator alloc) {
            return alloc.buffer(5).writeByte(MessageType.SYNC).writeInt(4);
        }
    }

    /** Flush: asks the server to send what it has. */
    enum Flush implements FrontendMessage {
        INSTANCE
    }

    /** Terminate: the client is leaving. */
    enum Terminate implements FrontendMessage {
        INSTANCE;

        public static ByteBuf encode(ByteBufAllocator alloc) {
            return alloc.buffer(5).writeByte(MessageType.TERMINATE).writeInt(4);
        }
    }
}
