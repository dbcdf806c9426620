package dev.pgmemo.protocol;

import io.netty.buffer.ByteBuf;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Low-level readers and writers for the protocol's primitive types (Int16, Int32, String = C string). */
public final class Wire {
    private Wire() {
    }

    /** Reads a NUL-terminated UTF-8 string and advances past the terminator. */
    public static String readCString(ByteBuf buf) {
        int end = cStringEnd(buf);
        String s = buf.toString(buf.readerIndex(), end - buf.readerIndex(), StandardCharsets.UTF_8);
        buf.readerIndex(end + 1);
        return s;
    }

    /**
     * Reads a NUL-terminated string that must be valid UTF-8: a frontend message's SQL text or name. Unlike
     * {@link #readCString}, which replaces invalid bytes, two different byte strings never decode to the same
     * text here, so a cache key or analysis built from the text stands for exactly the bytes PostgreSQL gets.
     */
    public static String readUtf8CString(ByteBuf buf) {
        int start = buf.readerIndex();
        int end = cStringEnd(buf);
        int length = end - start;
        String s;
        if (buf.forEachByte(start, length, b -> b >= 0) < 0) {
            s = buf.toString(start, length, StandardCharsets.US_ASCII);
        } else {
            try {
                s = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(buf.nioBuffer(start, length))
                        .toString();
            } catch (CharacterCodingException e) {
                throw new MalformedMessageException("string is not valid UTF-8");
            }
        }
        buf.readerIndex(end + 1);
        return s;
    }

    /** Index of the NUL that ends the string at the reader index. */
    private static int cStringEnd(ByteBuf buf) {
        int end = buf.indexOf(buf.readerIndex(), buf.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new MalformedMessageException("string is not NUL-terminated");
        }
        return end;
    }

    public static void writeCString(ByteBuf buf, String s) {
        buf.writeCharSequence(s, StandardCharsets.UTF_8);
        buf.writeByte(0);
    }

    /** Begins a typed message: writes the type and a length placeholder; returns the length's index. */
    public static int beginMessage(ByteBuf buf, byte type) {
        buf.writeByte(type);
        int lengthIndex = buf.writerIndex();
        buf.writeInt(0);
        return lengthIndex;
    }

    /** Fills in the length of a message begun with {@link #beginMessage}. */
    public static void endMessage(ByteBuf buf, int lengthIndex) {
        buf.setInt(lengthIndex, buf.writerIndex() - lengthIndex);
    }

    public static void requireReadable(ByteBuf buf, int n, String what) {
        if (buf.readableBytes() < n) {
            throw new MalformedMessageException("message too short reading " + what);
        }
    }
}
