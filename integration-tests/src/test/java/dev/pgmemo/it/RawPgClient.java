package dev.pgmemo.it;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A PostgreSQL frontend written by hand over a plain socket, to send what no driver would send and to read
 * replies at our own pace. Only trust authentication is supported.
 */
final class RawPgClient implements AutoCloseable {
    /** One backend message: type byte and body (without type and length). */
    record Message(char type, byte[] body) {
        /** ErrorResponse / NoticeResponse fields by their one-letter code (S, C, M, ...). */
        Map<Character, String> fields() {
            Map<Character, String> fields = new LinkedHashMap<>();
            int i = 0;
            while (i < body.length && body[i] != 0) {
                char code = (char) body[i++];
                int end = i;
                while (end < body.length && body[end] != 0) {
                    end++;
                }
                fields.put(code, new String(body, i, end - i, StandardCharsets.UTF_8));
                i = end + 1;
            }
            return fields;
        }

        String sqlState() {
            return fields().get('C');
        }

        @Override
        public String toString() {
            return type == 'E' || type == 'N' ? type + fields().toString() : type + "(" + body.length + " bytes)";
        }
    }

    final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    /** From BackendKeyData, once the startup is done. */
    int backendPid;

    RawPgClient(int port) throws IOException {
        this(port, -1);
    }

    /** {@code receiveBuffer} > 0 shrinks the socket's receive buffer (set before connecting). */
    RawPgClient(int port, int receiveBuffer) throws IOException {
        socket = new Socket();
        if (receiveBuffer > 0) {
            socket.setReceiveBufferSize(receiveBuffer);
        }
        socket.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        socket.setSoTimeout(10_000);
        in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 * 1024));
        out = socket.getOutputStream();
    }

    void send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /** A StartupMessage for protocol 3.0. */
    static byte[] startupMessage(String user, String database) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        writeInt(body, 196608);
        for (String s : new String[] {"user", user, "database", database, "application_name", "pgmemo-raw-it"}) {
            writeCString(body, s);
        }
        body.write(0);
        byte[] b = body.toByteArray();
        ByteArrayOutputStream packet = new ByteArrayOutputStream();
        writeInt(packet, b.length + 4);
        packet.writeBytes(b);
        return packet.toByteArray();
    }

    /** A simple-protocol Query message. */
    static byte[] query(String sql) {
        byte[] text = (sql + "\0").getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(5 + text.length).put((byte) 'Q').putInt(4 + text.length).put(text).array();
    }

    static byte[] terminate() {
        return new byte[] {'X', 0, 0, 0, 4};
    }

    /** Sends the startup message and reads until the first ReadyForQuery; fails on ErrorResponse. */
    void startup(String user, String database) throws IOException {
        send(startupMessage(user, database));
        while (true) {
            Message m = read();
            switch (m.type()) {
                case 'R' -> {
                    int code = ByteBuffer.wrap(m.body()).getInt();
                    if (code != 0) {
                        throw new IllegalStateException("only trust auth is supported here, got auth request " + code);
                    }
                }
                case 'K' -> backendPid = ByteBuffer.wrap(m.body()).getInt();
                case 'E' -> throw new IllegalStateException("startup failed: " + m);
                case 'Z' -> {
                    return;
                }
                default -> {
                }
            }
        }
    }

    /** Reads one typed message; EOFException when the server closed the connection. */
    Message read() throws IOException {
        int type = in.read();
        if (type < 0) {
            throw new EOFException("connection closed by server");
        }
        int length = in.readInt();
        if (length < 4) {
            throw new IOException("server sent message '" + (char) type + "' with length " + length);
        }
        byte[] body = new byte[length - 4];
        in.readFully(body);
        return new Message((char) type, body);
    }

    /** Reads and discards one message's bytes; returns its type (for reading huge results cheaply). */
    char skip() throws IOException {
        int type = in.read();
        if (type < 0) {
            throw new EOFException("connection closed by server");
        }
        int length = in.readInt();
        in.skipNBytes(length - 4);
        return (char) type;
    }

    /**
     * Reads until the server closes the connection, returning the messages seen (the last one read must be
     * followed by EOF). Throws SocketTimeoutException if the connection stays open.
     */
    java.util.List<Message> readUntilClosed() throws IOException {
        java.util.List<Message> seen = new java.util.ArrayList<>();
        while (true) {
            try {
                seen.add(read());
            } catch (EOFException e) {
                return seen;
            } catch (SocketTimeoutException e) {
                throw new AssertionError("the server neither closed the connection nor sent more within "
                        + socket.getSoTimeout() + " ms; received so far: " + seen, e);
            } catch (java.net.SocketException e) {
                // a reset after the server's close also means closed
                return seen;
            }
        }
    }

    /** The text values of the DataRows (text format, first column) among {@code messages}. */
    static java.util.List<String> firstColumnValues(java.util.List<Message> messages) {
        java.util.List<String> values = new java.util.ArrayList<>();
        for (Message m : messages) {
            if (m.type() == 'D') {
                ByteBuffer b = ByteBuffer.wrap(m.body());
                b.getShort();
                int len = b.getInt();
                values.add(len < 0 ? null : new String(m.body(), 6, len, StandardCharsets.UTF_8));
            }
        }
        return values;
    }

    /** True if the peer has closed (read returns EOF or reset) within the socket timeout. */
    boolean closedByPeer() throws IOException {
        try {
            return in.read() < 0;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (java.net.SocketException e) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    private static void writeInt(ByteArrayOutputStream out, int v) {
        out.write(v >>> 24);
        out.write(v >>> 16);
        out.write(v >>> 8);
        out.write(v);
    }

    private static void writeCString(ByteArrayOutputStream out, String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
        out.write(0);
    }
}
