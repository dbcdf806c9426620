package dev.pgmemo.proxy;

import dev.pgmemo.cache.analysis.Analysis;
import dev.pgmemo.cache.analysis.TableName;
import dev.pgmemo.cache.policy.Admission;
import dev.pgmemo.cache.policy.CachePolicy;
import dev.pgmemo.cache.store.CacheEntry;
import dev.pgmemo.cache.store.Keys;
import dev.pgmemo.cache.store.Lookup;
import dev.pgmemo.protocol.BackendMessage;
import dev.pgmemo.protocol.FrontendMessage;
import dev.pgmemo.protocol.MalformedMessageException;
import dev.pgmemo.protocol.MessageType;
import dev.pgmemo.proxy.cache.CacheService;
import dev.pgmemo.proxy.cache.Catalog;
import dev.pgmemo.proxy.cache.SessionContext;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cache-aware request path of one session, run on its event loop. It keeps a queue of the replies
 * still expected from PostgreSQL, each relayed, skipped (replies to pgmemo's own catalog queries and
 * injected Parses) or captured (results to store); it tracks named statements and portals, the
 * transaction state, the tables written; and it answers requests from the cache when every rule of the
 * safety contract allows (docs/consistency.md).
 *
 * <p>Extended-protocol messages are held until Sync so that a whole batch can be answered locally or sent
 * on; a Flush or any other message sends what is held at once (PostgreSQL docs 55.2.3, "Extended Query").
 */
final class QueryFlow {
    private static final Logger log = LoggerFactory.getLogger(QueryFlow.class);
    /** Held extended-protocol bytes above which the batch is sent on without caching. */
    private static final int MAX_HELD_BYTES = 1 << 20;
    private static final byte SIMPLE_MARKER = 'Q';
    private static final byte EXTENDED_MARKER = 'X';

    private final ClientSession session;
    private final CacheService cache;
    private final String database;

    // ---- reply tracking ----
    private final ArrayDeque<Pending> pending = new ArrayDeque<>();

    // ---- client side ----
    private final ArrayDeque<ByteBuf> clientBacklog = new ArrayDeque<>();
    private boolean clientPaused;
    private final List<Held> batch = new ArrayList<>();
    private int batchBytes;

    // ---- upstream side ----
    private final ArrayDeque<ByteBuf> upstreamBacklog = new ArrayDeque<>();
    private boolean upstreamPaused;

    // ---- statements and portals as the client sees them ----
    private final Map<String, Statement> statements = new HashMap<>();
    private final Map<String, Portal> portals = new HashMap<>();
    /**
     * Close (statement) messages of batches answered from the cache, for statements PostgreSQL holds: sent
     * ahead of the next request that goes upstream, their CloseComplete dropped. Until then nothing can tell
     * (every later use of the name goes upstream behind them), and a batch that closes a statement, as pgjdbc
     * sends with its next query whenever the garbage collector has reclaimed a statement object, can still be
     * a hit.
     */
    private final ArrayDeque<ByteBuf> deferredCloses = new ArrayDeque<>();
    private static final int MAX_DEFERRED_CLOSES = 64;

    // PostgreSQL ignores Sync while in copy-in mode (PostgreSQL docs 55.2.6), so a client that sends Sync
    // between an extended-protocol COPY FROM STDIN and its CopyDone/CopyFail gets no ReadyForQuery for it.
    // Syncs are numbered as they go upstream; at each CopyInResponse the ones sent before that copy ended are
    // dropped from the queue of expected replies.
    private long syncsSent;
    /** CopyDone/CopyFail messages sent upstream so far; each request remembers the count when it was sent. */
    private long copyEndsSent;
    /**
     * {copy end number, syncsSent then} for each CopyDone/CopyFail sent while no copy was known to be open, until
     * the CopyInResponse of the first request sent before it arrives. One sent after a copy failed ends no copy:
     * its number matches no request's, and it is dropped at the next CopyInResponse or when nothing is pending.
     */
    private final ArrayDeque<long[]> copyEnds = new ArrayDeque<>();
    /** A CopyInResponse came and the client has not ended that copy yet: its Syncs are ignored upstream. */
    private boolean copyInOpen;

    // ---- session and transaction state ----
    private SessionContext context;
    private boolean contextDirty = true;
    private byte txStatus;
    private boolean txWrote;
    private String txIsolation;
    private boolean txDirtiedContext;
    /** pgmemo's own catalog query failed, at {@link #catalogFailedAt} (System.nanoTime). */
    private boolean catalogHasFailed;
    private long catalogFailedAt;
    /** How long a session does without catalog queries after one failed (a timeout, revoked catalogs...). */
    private static final long CATALOG_RETRY_NANOS = TimeUnit.SECONDS.toNanos(30);
    /**
     * The unnamed portal of this transaction may still be used: bound and not run to completion (not executed
     * yet, or executed with a row limit and maybe suspended). pgmemo's catalog query, a simple Query, would drop it.
     */
    private boolean unnamedPortalMaySuspend;
    // Writes are invalidated when the transaction they belong to has ended and PostgreSQL said so. Each is
    // noted when its statement goes upstream, in `noted`; the request that ends the group (Query, Sync,
    // FunctionCall) takes what was noted with it, split at a COMMIT or ROLLBACK inside the group, and its
    // ReadyForQuery applies that to the transaction: so a write pipelined behind a commit is never
    // invalidated with (before) that commit, and COMMIT AND CHAIN, or "COMMIT; BEGIN" in one Query, end a
    // transaction although the status stays in-transaction.
    /** Writes noted since the last request that ends a group. */
    private Writes noted = new Writes();
    /** What `noted` held at the last COMMIT or ROLLBACK of the current group (with what came before), or null. */
    private Writes notedBeforeEnd;
    /** Writes of the open transaction whose group has been answered. */
    private final Writes txWrites = new Writes();
    /** Writes of ended transactions, to invalidate before the client sees the current ReadyForQuery. */
    private final Writes toBump = new Writes();
    /**
     * Extended-protocol messages went upstream since the last Sync: PostgreSQL is inside their implicit
     * transaction (holding its portals and locks), or discarding until Sync after an error, and has not reported
     * a status; nothing is answered from the cache and pgmemo asks nothing of its own until a Sync goes up.
     */
    private boolean unsyncedUpstream;
    /** Names SQL-level PREPARE took (one namespace with protocol-level statements), until DEALLOCATE. */
    private final Set<String> sqlPrepared = new HashSet<>();
    /** A PREPARE whose name pgmemo could not read ran: any protocol-level name may be taken. */
    private boolean sqlPrepareUnknown;
    /**
     * pgmemo's lexer reads '...' strings as standard_conforming_strings=on does (the default since 9.1). While a
     * session has it off, backslashes in strings may hide statements from it: nothing is cached and every
     * statement counts as a write to unknown tables.
     */
    private boolean standardConformingStrings;
    /** standard_conforming_strings as PostgreSQL last reported it; {@link #standardConformingStrings} is reset to it at each ReadyForQuery. */
    private boolean standardConformingStringsReported;
    /** The client encoding keeps bytes below 0x80 ASCII (not SJIS, BIG5, GBK, UHC, GB18030, JOHAB). */
    private boolean clientEncodingAsciiSafe = true;

    QueryFlow(ClientSession session, CacheService cache, byte txStatus, boolean standardConformingStrings) {
        this.session = session;
        this.cache = cache;
        this.database = session.database();
        this.txStatus = txStatus;
        this.standardConformingStrings = standardConformingStrings;
        this.standardConformingStringsReported = standardConformingStrings;
    }

    boolean clientPaused() {
        return clientPaused;
    }

    /** Frames from the client waiting while a decision is pending; above this, stop reading the client. */
    boolean clientBacklogFull() {
        return clientBacklog.size() >= 64;
    }

    /** Frames from PostgreSQL waiting while an invalidation is written; above this, stop reading it. */
    boolean upstreamBacklogFull() {
        return upstreamBacklog.size() >= 256;
    }

    boolean upstreamPaused() {
        return upstreamPaused;
    }

    boolean isIdle() {
        return pending.isEmpty() && batch.isEmpty() && !clientPaused && !upstreamPaused;
    }

    /**
     * The client shut down its sending side. What the flow holds (extended-protocol messages awaiting a Sync)
     * goes upstream, as it would have without pgmemo. Returns whether replies PostgreSQL sends unprompted (a
     * ReadyForQuery ends them) are still owed, or the flow is busy; false means only replies PostgreSQL never
     * sends without a Sync or Flush remain.
     */
    boolean clientInputShutdown() {
        if (clientPaused || upstreamPaused) {
            return true;
        }
        sendHeldUncached();
        session.flushUpstream();
        return !pending.isEmpty() && pendingEndsWithReadyForQuery();
    }

    void release() {
        batch.forEach(h -> ReferenceCountUtil.release(h.frame));
        batch.clear();
        clientBacklog.forEach(ReferenceCountUtil::release);
        clientBacklog.clear();
        upstreamBacklog.forEach(ReferenceCountUtil::release);
        upstreamBacklog.clear();
        boolean writesInFlight = false;
        for (Pending p : pending) {
            // A write (or a COMMIT of earlier ones) whose ReadyForQuery never came may have committed.
            writesInFlight |= p.writes != null || p.writesBeforeEnd != null && !p.writesBeforeEnd.isEmpty()
                    || p.endsTransaction && !txWrites.isEmpty();
        }
        if (writesInFlight) {
            cache.metrics().invalidations.increment();
            cache.store().bump(List.of(Keys.databaseEpoch(database)));
        }
        for (Pending p : pending) {
            if (p.capture != null) {
                p.capture.discard();
            }
            if (p.groupCaptures != null) {
                p.groupCaptures.forEach(Capture::discard);
            }
        }
        pending.clear();
        deferredCloses.forEach(ReferenceCountUtil::release);
        deferredCloses.clear();
    }

    // =====================================================================================================
    // Client -> upstream
    // =====================================================================================================

    void onClientFrame(ByteBuf frame) {
        if (clientPaused) {
            clientBacklog.add(frame);
            if (clientBacklogFull()) {
                session.updateReading();
            }
            return;
        }
        processClientFrame(frame);
    }

    private void processClientFrame(ByteBuf frame) {
        byte type = frame.getByte(frame.readerIndex());
        FrontendMessage msg;
        try {
            msg = FrontendMessage.decode(frame);
        } catch (MalformedMessageException e) {
            // Let PostgreSQL answer the malformed message exactly as it would; nothing is cached from here.
            sendHeldUncached();
            if (type == MessageType.QUERY) {
                noteEffectsOfUndecodedQuery(frame); // refused here (text that is not UTF-8) but PostgreSQL may run it
            } else if (type == MessageType.PARSE) {
                sqlPrepareUnknown = true; // its name may now be taken upstream
            }
            forward(frame, pendingKindFor(type));
            return;
        }
        switch (type) {
            case MessageType.QUERY -> {
                sendHeldUncached();
                onQuery(frame, (FrontendMessage.Query) msg);
            }
            case MessageType.PARSE, MessageType.BIND, MessageType.DESCRIBE, MessageType.EXECUTE, MessageType.CLOSE -> {
                batch.add(new Held(frame, msg));
                batchBytes += frame.readableBytes();
                if (batchBytes > MAX_HELD_BYTES) {
                    sendHeldUncached();
                }
            }
            case MessageType.SYNC -> {
                batch.add(new Held(frame, msg));
                onSync();
            }
            case MessageType.TERMINATE -> {
                sendHeldUncached();
                session.writeUpstream(frame);
                session.clientTerminated();
            }
            default -> {
                // Flush, FunctionCall, CopyData/CopyDone/CopyFail, ...: send what is held, then this.
                sendHeldUncached();
                if (type == MessageType.FUNCTION_CALL && !upstreamDiscarding) {
                    noteUnknownWrite(); // a fast-path function call may write anything
                }
                if (type == MessageType.COPY_DONE || type == MessageType.COPY_FAIL) {
                    copyEndsSent++;
                    if (copyInOpen) {
                        copyInOpen = false;
                    } else if (!pending.isEmpty()) {
                        copyEnds.add(new long[] {copyEndsSent, syncsSent}); // its CopyInResponse may be on its way
                    }
                }
                forward(frame, pendingKindFor(type));
            }
        }
    }

    /**
     * A Query whose text is not valid UTF-8 (a LATIN1 client, say) is never cached, but its writes must be
     * invalidated: in a client encoding whose bytes below 0x80 are always ASCII (every encoding PostgreSQL can
     * store, and most client-only ones) its statements are read byte for byte; otherwise, or when the message
     * is malformed, it counts as a write to unknown tables.
     */
    private void noteEffectsOfUndecodedQuery(ByteBuf frame) {
        int start = frame.readerIndex() + 5;
        int end = frame.writerIndex();
        int nul = frame.indexOf(start, end, (byte) 0);
        if (!clientEncodingAsciiSafe || nul != end - 1 || !standardConformingStrings) {
            noteUnknownWrite();
            return;
        }
        String sql = frame.toString(start, nul - start, java.nio.charset.StandardCharsets.ISO_8859_1);
        statements.remove("");
        portals.remove("");
        noteScriptEffects(sql, analyzeScript(sql));
    }

    /** What the statements of a simple Query going upstream do (as they go, in order). */
    private void noteScriptEffects(String sql, List<Analysis> statementsInQuery) {
        prepareReferencedStatements(sql);
        for (Analysis a : statementsInQuery) {
            if (!standardConformingStrings) {
                noteUnknownWrite(); // after a statement that may turn standard_conforming_strings off
            }
            noteEffects(a);
        }
    }

    /** Client encodings whose multibyte characters may contain bytes below 0x80 (quotes, backslashes). */
    static boolean asciiSafeEncoding(String name) {
        String n = name == null ? "" : name.toUpperCase(java.util.Locale.ROOT).replace("_", "");
        return !(n.equals("SJIS") || n.equals("SHIFTJIS2004") || n.equals("BIG5") || n.equals("GBK")
                || n.equals("UHC") || n.equals("GB18030") || n.equals("JOHAB") || n.equals("WIN932")
                || n.equals("WIN936") || n.equals("WIN949") || n.equals("WIN950") || n.equals("SHIFTJIS"));
    }

    /** Extended-protocol messages that PostgreSQL runs in an implicit transaction ending at the next Sync. */
    private static boolean isExtendedBeforeSync(byte type) {
        return type == MessageType.PARSE || type == MessageType.BIND || type == MessageType.DESCRIBE
                || type == MessageType.EXECUTE || type == MessageType.CLOSE || type == MessageType.FLUSH;
    }

    private static byte pendingKindFor(byte type) {
        return switch (type) {
            case MessageType.QUERY, MessageType.PARSE, MessageType.BIND, MessageType.DESCRIBE, MessageType.EXECUTE,
                    MessageType.CLOSE, MessageType.SYNC, MessageType.FUNCTION_CALL -> type;
            default -> 0;
        };
    }

    private void forward(ByteBuf frame, byte pendingKind) {
        sendDeferredCloses();
        byte type = frame.getByte(frame.readerIndex());
        if (isExtendedBeforeSync(type)) {
            unsyncedUpstream = true;
        }
        if (pendingKind == MessageType.SYNC) {
            queueSync(newPending(pendingKind)); // a malformed Sync: PostgreSQL still acts on its type
        } else if (pendingKind != 0 && !upstreamDiscarding) {
            pending.add(newPending(pendingKind));
        }
        session.writeUpstream(frame);
    }

    // ---- simple query ------------------------------------------------------------------------------------

    private void onQuery(ByteBuf frame, FrontendMessage.Query query) {
        if (upstreamDiscarding || copyInOpen) {
            // Discarded upstream, unanswered, as without pgmemo; or refused by PostgreSQL in copy-in mode.
            forward(frame, MessageType.QUERY);
            return;
        }
        if (!standardConformingStrings) {
            // A simple Query drops the unnamed statement and portal (PostgreSQL docs 55.2.3).
            statements.remove("");
            portals.remove("");
            cache.metrics().bypass("standard_conforming_strings");
            noteUnknownWrite();
            forward(frame, MessageType.QUERY);
            return;
        }
        List<Analysis> statementsInQuery = analyzeScript(query.sql());
        boolean candidate = statementsInQuery.size() == 1 && CacheService.candidate(statementsInQuery.get(0));
        if (candidate && !pending.isEmpty() && pendingEndsWithReadyForQuery()) {
            waitForEarlierReplies(frame);
            return;
        }
        // A simple Query drops the unnamed statement and portal (PostgreSQL docs 55.2.3).
        Statement unnamedStatement = statements.remove("");
        Portal unnamedPortal = portals.remove("");
        if (candidate) {
            Analysis a = statementsInQuery.get(0);
            Candidate c = pending.isEmpty() && !unsyncedUpstream ? evaluate(a, query.sql()) : pipelinedBypass();
            if (c.needsCatalog != null) {
                runCatalogQuery(c.needsCatalog, () -> processClientFrame(frame));
                return;
            }
            if (c.cacheable()) {
                byte[] key = new CacheService.KeyBuilder(SIMPLE_MARKER, context, c.settingsKey).text(query.sql()).build();
                Exec exec = new Exec(c, key, null);
                long start = System.nanoTime();
                pauseClient();
                lookup(List.of(exec), () -> {
                    if (exec.hit != null) {
                        cache.metrics().hits.increment();
                        // PostgreSQL would have dropped its unnamed statement and portal for this Query.
                        if (unnamedStatement != null && unnamedStatement.upstreamPrepared) {
                            deferredCloses.add(new FrontendMessage.Close((byte) 'S', "").encode(session.alloc()));
                        }
                        if (unnamedPortal != null) {
                            deferredCloses.add(new FrontendMessage.Close((byte) 'P', "").encode(session.alloc()));
                        }
                        session.writeClient(Unpooled.wrappedBuffer(exec.hit));
                        session.writeClient(BackendMessage.ReadyForQuery.encode(session.alloc(), txStatus));
                        session.flushClient();
                        cache.metrics().hitLatency.record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
                        frame.release();
                    } else {
                        sendDeferredCloses();
                        noteEffects(a); // a user function runs now (the context may change)
                        Pending p = newPending(MessageType.QUERY);
                        if (exec.tokens != null) {
                            cache.metrics().misses.increment();
                            p.capture = new Capture(exec.key, exec.tokens, c.ttl, cache.maxEntrySize(), c.shape);
                            p.groupCaptures = new ArrayList<>(List.of(p.capture));
                        }
                        pending.add(p);
                        session.writeUpstream(frame);
                        session.flushUpstream();
                    }
                    resumeClient();
                });
                return;
            }
        }
        noteScriptEffects(query.sql(), statementsInQuery);
        forward(frame, MessageType.QUERY);
    }

    // ---- extended query ----------------------------------------------------------------------------------

    private void onSync() {
        if (upstreamDiscarding || copyInOpen) {
            sendBatch(List.of());
            return;
        }
        if (!standardConformingStrings) {
            cache.metrics().bypass("standard_conforming_strings");
            noteUnknownWrite();
            sendBatch(List.of());
            return;
        }
        // Walk the batch as PostgreSQL would, and decide for each Execute whether it could come from cache.
        List<Exec> execs = new ArrayList<>();
        boolean local = true;
        boolean eligible = true;
        int closesToDefer = 0;
        Overlay<Statement> stmts = new Overlay<>(statements);
        Overlay<Portal> ports = new Overlay<>(portals);
        NeedCatalog need = null;
        // A batch is answered locally only when PostgreSQL would accept every message in it and keep nothing of
        // it after the Sync that pgmemo does not know: each Parse and Bind is used by an Execute of the batch,
        // each portal is bound, executed once (and described or closed) in it, and none outlives the batch.
        boolean[] used = new boolean[batch.size()]; // Parses and Binds an Execute of the batch vouches for
        for (int i = 0; i < batch.size(); i++) {
            Held h = batch.get(i);
            if (h.msg instanceof FrontendMessage.Parse p) {
                if (!p.name().isEmpty() && (stmts.containsKey(p.name()) || sqlPrepared.contains(p.name()) || sqlPrepareUnknown)) {
                    local = false; // PostgreSQL answers "prepared statement already exists"
                }
                stmts.put(p.name(), new Statement(p, analysisOf(h, p)));
            } else if (h.msg instanceof FrontendMessage.Bind b) {
                Statement st = stmts.get(b.statement());
                if (st == null) {
                    eligible = false;
                    local = false;
                    continue;
                }
                if (!b.portal().isEmpty() && (ports.containsKey(b.portal())
                        || txStatus != BackendMessage.ReadyForQuery.IDLE)) {
                    local = false; // "portal already exists", or a named portal that outlives this batch
                }
                ports.put(b.portal(), new Portal(st, b));
            } else if (h.msg instanceof FrontendMessage.Describe d) {
                boolean followedByExecute = d.kind() == 'P' && i + 1 < batch.size()
                        && batch.get(i + 1).msg instanceof FrontendMessage.Execute e && e.portal().equals(d.name());
                if (!followedByExecute) {
                    local = false;
                }
            } else if (h.msg instanceof FrontendMessage.Execute e) {
                Portal portal = ports.get(e.portal());
                if (portal == null) {
                    local = false;
                    eligible = false;
                    continue;
                }
                // Bookkeeping only while the batch may still be answered locally (a batch of thousands of Executes
                // going upstream stays linear).
                if (local) {
                    int bound = lastBindBefore(i, e.portal());
                    if (bound < 0 || used[bound]) {
                        local = false; // a portal bound earlier, or executed twice (PostgreSQL's second run returns nothing)
                    } else {
                        used[bound] = true;
                        int parsed = lastParseBefore(bound, ((FrontendMessage.Bind) batch.get(bound).msg).statement());
                        if (parsed >= 0) {
                            used[parsed] = true;
                        }
                    }
                }
                Analysis a = portal.statement.analysis;
                boolean described = i > 0 && batch.get(i - 1).msg instanceof FrontendMessage.Describe d
                        && d.kind() == 'P' && d.name().equals(e.portal());
                boolean eligibleHere = eligible;
                if (!isReadOnlyForBatch(a)) {
                    eligible = false; // a later read in this batch may see this statement's effects
                }
                if (!eligibleHere || e.maxRows() != 0 || !CacheService.candidate(a)) {
                    local = false;
                    if (CacheService.candidate(a) && e.maxRows() != 0) {
                        cache.metrics().bypass("row_limit");
                    }
                    continue;
                }
                if (!pending.isEmpty()) {
                    if (pendingEndsWithReadyForQuery()) {
                        waitForEarlierReplies(batch.remove(batch.size() - 1).frame); // the Sync, processed again later
                        return;
                    }
                    pipelinedBypass();
                    local = false;
                    continue;
                }
                if (unsyncedUpstream) {
                    pipelinedBypass();
                    local = false;
                    continue;
                }
                Candidate c = evaluate(a, portal.statement.parse.sql());
                if (c.needsCatalog != null) {
                    need = need == null ? c.needsCatalog : need.merge(c.needsCatalog);
                    local = false;
                    continue;
                }
                if (!c.cacheable()) {
                    local = false;
                    continue;
                }
                FrontendMessage.Bind b = portal.bind;
                if (hasClockLiteral(b)) {
                    // 'now', 'today', ... as a parameter value make the result depend on the clock.
                    cache.metrics().bypass("volatile");
                    local = false;
                    continue;
                }
                CacheService.KeyBuilder kb = new CacheService.KeyBuilder(EXTENDED_MARKER, context, c.settingsKey)
                        .text(portal.statement.parse.sql());
                int[] types = portal.statement.parse.parameterTypes();
                kb.intValue(types.length);
                for (int t : types) {
                    kb.intValue(t);
                }
                kb.intValue(b.parameterFormats().length);
                for (short f : b.parameterFormats()) {
                    kb.intValue(f);
                }
                kb.intValue(b.values().length);
                for (byte[] v : b.values()) {
                    kb.bytes(v);
                }
                kb.intValue(b.resultFormats().length);
                for (short f : b.resultFormats()) {
                    kb.intValue(f);
                }
                // Whether the client sent Describe is not part of the key: an entry captured with its
                // RowDescription also answers an Execute without Describe (see adaptToDescribe).
                Exec exec = new Exec(c, kb.build(), described);
                exec.batchIndex = i;
                execs.add(exec);
            } else if (h.msg instanceof FrontendMessage.Close c) {
                if (c.kind() == 'S') {
                    if (mayBeHeldUpstream(stmts.remove(c.name()))) {
                        closesToDefer++;
                        if (deferredCloses.size() + closesToDefer > MAX_DEFERRED_CLOSES) {
                            local = false; // too many would wait: send the batch, and the deferred Closes with it
                        }
                    }
                } else {
                    if (local && lastBindBefore(i, c.name()) < 0) {
                        local = false; // a portal PostgreSQL may hold: it must close it
                    }
                    ports.remove(c.name());
                }
            }
        }
        for (int i = 0; i < used.length && local; i++) {
            FrontendMessage m = batch.get(i).msg;
            if (!used[i] && (m instanceof FrontendMessage.Parse || m instanceof FrontendMessage.Bind)) {
                local = false; // a Parse or Bind no Execute here vouches for: PostgreSQL may refuse it
            }
        }
        if (need != null && canAskCatalog()) {
            runCatalogQuery(need, this::onSync);
            return;
        }
        if (execs.isEmpty()) {
            sendBatch(List.of());
            return;
        }
        final boolean allLocal = local;
        long start = System.nanoTime();
        pauseClient();
        lookup(execs, () -> {
            boolean allHit = allLocal && execs.stream().allMatch(x -> x.hit != null)
                    && execs.size() == countExecutes();
            if (allHit) {
                cache.metrics().hits.increment(execs.size());
                answerBatchLocally(execs);
                cache.metrics().hitLatency.record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
            } else {
                for (Exec x : execs) {
                    if (x.tokens != null && x.hit == null) {
                        cache.metrics().misses.increment();
                    } else if (x.hit != null) {
                        // A hit that cannot be served because its batch goes upstream: it is just a miss here.
                        cache.metrics().misses.increment();
                    }
                }
                sendBatch(execs);
            }
            resumeClient();
        });
    }

    /** Index of the last Bind of {@code portal} in the batch before {@code index}, or -1. */
    private int lastBindBefore(int index, String portal) {
        for (int j = index - 1; j >= 0; j--) {
            if (batch.get(j).msg instanceof FrontendMessage.Bind b && b.portal().equals(portal)) {
                return j;
            }
        }
        return -1;
    }

    /** Index of the last Parse of {@code statement} in the batch before {@code index}, or -1. */
    private int lastParseBefore(int index, String statement) {
        for (int j = index - 1; j >= 0; j--) {
            if (batch.get(j).msg instanceof FrontendMessage.Parse p && p.name().equals(statement)) {
                return j;
            }
        }
        return -1;
    }

    /**
     * PostgreSQL reads the date/time input strings 'now', 'today', 'tomorrow' and 'yesterday' at execution
     * time, so a parameter holding one (in any format: binary text cast in the SQL is read too) makes the result depend on the clock.
     */
    private static boolean hasClockLiteral(FrontendMessage.Bind b) {
        // Every value, whatever its length and format: a binary-format text parameter cast to a date/time type in
        // the SQL ($1::text::timestamptz) is read as text too. A false match only costs a cache lookup.
        for (byte[] v : b.values()) {
            if (v != null && v.length >= 3
                    && dev.pgmemo.cache.analysis.Fingerprint.mentionsRelativeDay(new String(v, java.nio.charset.StandardCharsets.ISO_8859_1))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Replies to earlier requests are still due: a cache decision needs the transaction status the last of them
     * reports, and an answer from the cache must not overtake them (pgjdbc sends BEGIN as a Query right before
     * the Bind/Execute/Sync of a transaction's first statement; a pipelined write must be invalidated before a
     * read behind it). So the request waits, unread, until they have all been relayed.
     */
    private void waitForEarlierReplies(ByteBuf frame) {
        clientBacklog.addFirst(frame);
        waitingForEarlierReplies = true;
        pauseClient();
    }

    /**
     * Whether the outstanding replies end with a ReadyForQuery, which the server sends (and flushes) without
     * waiting for the client; otherwise (messages sent on by a Flush, no Sync yet) waiting could deadlock.
     */
    private boolean pendingEndsWithReadyForQuery() {
        Pending last = pending.peekLast();
        return last != null && (last.kind == MessageType.QUERY || last.kind == MessageType.SYNC
                || last.kind == MessageType.FUNCTION_CALL || last.kind == INTERNAL);
    }

    /** A candidate behind replies that may never come unprompted: sent on uncached. */
    private Candidate pipelinedBypass() {
        cache.metrics().bypass("pipelined");
        return new Candidate();
    }

    private boolean waitingForEarlierReplies;
    /**
     * After an error in an extended-protocol request sent on by a Flush, PostgreSQL discards every message until
     * the next Sync and answers none of them: pgmemo expects no reply to them, answers nothing from the cache and
     * keeps no state from them until that Sync has gone upstream.
     */
    private boolean upstreamDiscarding;
    /** A write's ReadyForQuery is held until its invalidation is done; the client is paused meanwhile. */
    private boolean readyForQueryHeld;

    private int countExecutes() {
        int n = 0;
        for (Held h : batch) {
            if (h.msg instanceof FrontendMessage.Execute) {
                n++;
            }
        }
        return n;
    }

    /** Statements after which later reads in the same batch may still be cached. */
    private boolean isReadOnlyForBatch(Analysis a) {
        return switch (a.kind()) {
            // Any function that is not vetted immutable may write, or change the session's settings
            // (set_config): the reads after it may not be keyed with the context of before.
            case SELECT -> !a.callsSetConfig() && !a.writesUnknown() && a.writes().isEmpty() && a.unknownFunctions().isEmpty()
                    && (a.cacheable() || a.reason() == Analysis.BypassReason.LOCKING_CLAUSE
                            || a.reason() == Analysis.BypassReason.SYSTEM_CATALOG);
            // A BEGIN earlier in the batch: later reads run in its transaction, so only READ COMMITTED (asked
            // for, or the session default as last read) lets them use the cache.
            case BEGIN -> "read committed".equalsIgnoreCase(isolationOfBegin(a));
            case SHOW, EMPTY, LISTEN_NOTIFY -> true;
            // ROLLBACK TO SAVEPOINT may undo a SET: later reads would run with another context than their key's.
            case SAVEPOINT -> !txDirtiedContext;
            default -> false;
        };
    }

    /** Answers the held batch from cache entries, as PostgreSQL would have. */
    private void answerBatchLocally(List<Exec> execs) {
        Map<Integer, Exec> byIndex = new HashMap<>();
        for (Exec x : execs) {
            byIndex.put(x.batchIndex, x);
        }
        for (int i = 0; i < batch.size(); i++) {
            Held h = batch.get(i);
            if (h.msg instanceof FrontendMessage.Parse p) {
                Statement st = new Statement(p, analysisOf(h, p));
                st.upstreamPrepared = false;
                statements.put(p.name(), st);
                session.writeClient(BackendMessage.empty(session.alloc(), MessageType.PARSE_COMPLETE));
            } else if (h.msg instanceof FrontendMessage.Bind b) {
                portals.put(b.portal(), new Portal(statements.get(b.statement()), b));
                session.writeClient(BackendMessage.empty(session.alloc(), MessageType.BIND_COMPLETE));
            } else if (h.msg instanceof FrontendMessage.Describe) {
                // The RowDescription is the start of the following Execute's entry.
            } else if (h.msg instanceof FrontendMessage.Execute) {
                session.writeClient(Unpooled.wrappedBuffer(byIndex.get(i).hit));
            } else if (h.msg instanceof FrontendMessage.Close c) {
                if (c.kind() == 'S') {
                    if (mayBeHeldUpstream(statements.remove(c.name()))) {
                        deferredCloses.add(h.frame.retain());
                    }
                } else {
                    portals.remove(c.name());
                }
                session.writeClient(BackendMessage.empty(session.alloc(), MessageType.CLOSE_COMPLETE));
            } else if (h.msg == FrontendMessage.Sync.INSTANCE) {
                session.writeClient(BackendMessage.ReadyForQuery.encode(session.alloc(), txStatus));
            }
            h.frame.release();
        }
        batch.clear();
        batchBytes = 0;
        if (txStatus == BackendMessage.ReadyForQuery.IDLE) {
            portals.clear(); // the implicit transaction ended at the Sync, and its portals with it
        }
        session.flushClient();
    }

    /** Sends the held batch upstream without caching anything in it. */
    private void sendHeldUncached() {
        if (!batch.isEmpty()) {
            sendBatch(List.of());
        }
    }

    /**
     * Sends the held batch upstream, preparing first any statement the client believes prepared but the
     * backend has not seen (because its Parse was answered from cache), and capturing the results of
     * {@code captured} Executes.
     */
    private void sendBatch(List<Exec> captured) {
        sendDeferredCloses();
        Map<Integer, Exec> byIndex = captured.isEmpty() ? Map.of() : new HashMap<>();
        for (Exec x : captured) {
            if (x.tokens != null) {
                byIndex.put(x.batchIndex, x);
            }
        }
        List<Capture> captures = captured.isEmpty() ? List.of() : new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
            Held h = batch.get(i);
            FrontendMessage msg = h.msg;
            if (upstreamDiscarding && msg != FrontendMessage.Sync.INSTANCE) {
                session.writeUpstream(h.frame); // discarded by PostgreSQL: no reply, no effect
                continue;
            }
            Pending p = newPending(h.frame.getByte(h.frame.readerIndex()));
            if (msg instanceof FrontendMessage.Parse parse) {
                Statement existing = statements.get(parse.name());
                if (!parse.name().isEmpty() && existing != null && !existing.upstreamPrepared) {
                    injectParse(existing); // so that PostgreSQL answers "already exists", as it would have
                }
                prepareReferencedStatements(parse.sql());
                Statement st = new Statement(parse, analysisOf(h, parse));
                st.upstreamPrepared = true;
                statements.put(parse.name(), st);
                p.undo = () -> {
                    if (statements.remove(parse.name(), st) && existing != null && !parse.name().isEmpty()) {
                        statements.put(parse.name(), existing); // a named statement is not replaced on failure
                    }
                };
            } else if (msg instanceof FrontendMessage.Bind b) {
                Statement st = statements.get(b.statement());
                if (st != null && !st.upstreamPrepared) {
                    injectParse(st);
                }
                if (st != null) {
                    Portal portal = new Portal(st, b);
                    portals.put(b.portal(), portal);
                    p.undo = () -> portals.remove(b.portal(), portal);
                }
                if (b.portal().isEmpty()) {
                    unnamedPortalMaySuspend = true; // until an Execute runs it to completion
                }
            } else if (msg instanceof FrontendMessage.Describe d) {
                if (d.kind() == 'S') {
                    Statement st = statements.get(d.name());
                    if (st != null && !st.upstreamPrepared) {
                        injectParse(st);
                    }
                } else if (i + 1 < batch.size() && byIndex.get(i + 1) != null && byIndex.get(i + 1).described) {
                    p.capture = byIndex.get(i + 1).capture(cache);
                }
            } else if (msg instanceof FrontendMessage.Execute e) {
                Portal portal = portals.get(e.portal());
                if (e.portal().isEmpty()) {
                    unnamedPortalMaySuspend = e.maxRows() != 0;
                }
                Exec x = byIndex.get(i);
                if (x != null) {
                    p.capture = x.capture(cache);
                    captures.add(p.capture);
                }
                if (portal != null) {
                    noteEffects(portal.statement.analysis);
                } else {
                    noteUnknownWrite();
                }
            } else if (msg instanceof FrontendMessage.Close c) {
                if (c.kind() == 'S') {
                    Statement closed = statements.remove(c.name());
                    if (closed != null) {
                        p.undo = () -> statements.putIfAbsent(c.name(), closed);
                    }
                } else {
                    Portal closed = portals.remove(c.name());
                    if (closed != null) {
                        p.undo = () -> portals.putIfAbsent(c.name(), closed);
                    }
                }
            }
            if (msg == FrontendMessage.Sync.INSTANCE) {
                // The captures of this batch are stored (or not) when this Sync's ReadyForQuery arrives.
                p.groupCaptures = captures;
                captures = captured.isEmpty() ? List.of() : new ArrayList<>();
                queueSync(p);
            } else {
                pending.add(p);
                unsyncedUpstream = true;
            }
            session.writeUpstream(h.frame);
        }
        captures.forEach(Capture::discard); // a batch always ends with Sync; this is only a safety net
        batch.clear();
        batchBytes = 0;
        session.flushUpstream();
    }

    /**
     * SQL can name a protocol-level statement (one namespace: EXECUTE, EXPLAIN EXECUTE, CREATE TABLE ... AS
     * EXECUTE, DEALLOCATE) or list them all (pg_prepared_statements): every statement whose Parse pgmemo answered
     * itself and that the text may refer to goes to PostgreSQL first, or it would answer "does not exist".
     */
    private void prepareReferencedStatements(String sql) {
        String text = null;
        for (Statement st : List.copyOf(statements.values())) {
            if (st.upstreamPrepared || st.parse.name().isEmpty()) {
                continue;
            }
            if (text == null) {
                text = sql.toLowerCase(java.util.Locale.ROOT);
            }
            if (text.contains(st.parse.name().toLowerCase(java.util.Locale.ROOT)) || text.contains("pg_prepared_statements")) {
                injectParse(st);
            }
        }
    }

    /** After DEALLOCATE (ALL) or DISCARD ALL, PostgreSQL knows these statements (and portals) no more. */
    private void forgetPrepared(Analysis a) {
        if (a.kind() == Analysis.Kind.DEALLOCATE && a.settingName() != null) {
            sqlPrepared.remove(a.settingName());
        } else if (a.kind() == Analysis.Kind.DEALLOCATE || a.kind() == Analysis.Kind.DISCARD && "all".equals(a.settingName())) {
            sqlPrepared.clear();
            sqlPrepareUnknown = false;
        }
        if (a.kind() == Analysis.Kind.DEALLOCATE) {
            if (a.settingName() == null) {
                statements.keySet().removeIf(name -> !name.isEmpty()); // ALL leaves the unnamed statement
            } else {
                statements.remove(a.settingName());
            }
        } else if (a.kind() == Analysis.Kind.DISCARD && "all".equals(a.settingName())) {
            statements.keySet().removeIf(name -> !name.isEmpty());
            portals.clear();
        }
    }

    /**
     * Numbers a Sync going upstream and queues the ReadyForQuery it asks for, unless PostgreSQL is in copy-in
     * mode and will ignore it. Any Sync ends a discard-until-Sync.
     */
    private void queueSync(Pending sync) {
        upstreamDiscarding = false;
        unsyncedUpstream = false;
        sync.syncNumber = ++syncsSent;
        if (copyInOpen) {
            discardGroup(sync);
        } else {
            pending.add(sync);
        }
    }

    /**
     * A Sync whose ReadyForQuery never comes: the results of its group are not stored, and its writes join the
     * open transaction's (invalidated when it ends, whatever the group did).
     */
    private void discardGroup(Pending sync) {
        if (sync.groupCaptures != null) {
            sync.groupCaptures.forEach(Capture::discard);
        }
        txWrites.addAll(sync.writesBeforeEnd);
        txWrites.addAll(sync.writes);
        sync.writesBeforeEnd = null;
        sync.writes = null;
    }

    private Pending newPending(byte kind) {
        Pending p = new Pending(kind);
        p.copyEndsBefore = copyEndsSent;
        if (kind == MessageType.QUERY || kind == MessageType.SYNC || kind == MessageType.FUNCTION_CALL) {
            // This request ends a group: its ReadyForQuery applies what the group wrote.
            p.endsTransaction = notedBeforeEnd != null;
            p.writesBeforeEnd = notedBeforeEnd;
            p.writes = noted.isEmpty() ? null : noted;
            if (!noted.isEmpty()) {
                noted = new Writes();
            }
            notedBeforeEnd = null;
        }
        return p;
    }

    /** Whether PostgreSQL holds a statement being closed: pgmemo's Parse went upstream, or (unknown) SQL PREPARE. */
    private static boolean mayBeHeldUpstream(Statement closed) {
        return closed == null || closed.upstreamPrepared;
    }

    /** Sends the deferred Closes; call before anything else goes upstream (they must come first). */
    private void sendDeferredCloses() {
        while (!upstreamDiscarding && !deferredCloses.isEmpty()) {
            Pending p = newPending(MessageType.CLOSE);
            p.skip = true;
            pending.add(p);
            session.writeUpstream(deferredCloses.poll());
        }
    }

    private void injectParse(Statement st) {
        sendDeferredCloses();
        Pending p = newPending(MessageType.PARSE);
        p.skip = true;
        p.undo = () -> st.upstreamPrepared = false;
        pending.add(p);
        session.writeUpstream(st.parse.encode(session.alloc()));
        st.upstreamPrepared = true;
    }

    // ---- cacheability ------------------------------------------------------------------------------------

    private List<Analysis> analyzeScript(String sql) {
        try {
            return cache.analyzer().analyzeScript(sql);
        } catch (RuntimeException e) {
            log.warn("{} query analysis failed ({}); treating the query as an unknown write", session.prefix(), e.toString());
            return List.of(cache.analyzer().analyze("DO $pgmemo_unparsed$ $pgmemo_unparsed$"));
        }
    }

    private Analysis analyze(String sql) {
        try {
            return cache.analyzer().analyze(sql);
        } catch (RuntimeException e) {
            log.warn("{} query analysis failed ({}); treating the statement as an unknown write", session.prefix(), e.toString());
            return cache.analyzer().analyze("DO $pgmemo_unparsed$ $pgmemo_unparsed$");
        }
    }

    /**
     * Decides whether a candidate SELECT may use the cache in this session right now, and how. Either
     * returns a key-less verdict (bypass, counted), a request for catalog facts, or the tokens and TTL.
     */
    private Candidate evaluate(Analysis a, String sql) {
        Candidate c = new Candidate();
        c.generation = cache.catalog().generation(database);
        String reason = sessionBypassReason();
        // A shape not worth caching is sent on before any catalog or rule work (only shapes that were looked
        // up, so already passed all of it, can be in that state).
        Admission.Shape shape = reason == null ? cache.admission().shape(a.fingerprint()) : null;
        if (shape != null && !shape.admit()) {
            cache.metrics().bypass("low_benefit");
            return c;
        }
        if (reason == null && (context == null || contextDirty || txIsolationUnknown())) {
            if (canAskCatalog()) {
                // The context alone first; the frame is evaluated again once it is known, and asks for the
                // relations and functions the catalog memo does not hold under that context (usually none: the
                // memo is shared by every session with the same database, user and search_path). Asking for
                // them together would save a round trip only for a relation nobody asked about yet, and cost
                // every new session the relations query (11 ms of planning alone, 40-90 ms for the first query
                // of eight sessions starting together on two cores). Inside a transaction of unknown isolation
                // the context must come first anyway: a REPEATABLE READ snapshot may predate DDL, and facts
                // learned in it would be remembered for everyone.
                c.needsCatalog = NeedCatalog.CONTEXT_ONLY;
                return c;
            }
            reason = catalogFailed() ? "catalog_error" : "context_unknown";
        }
        if (reason == null && context.hasTempSchema()) {
            reason = "temp_table";
        }
        if (reason != null) {
            cache.metrics().bypass(reason);
            return c;
        }
        Catalog catalog = cache.catalog();
        List<Catalog.Name> rels = names(a.reads());
        List<Catalog.Name> funcs = functionNames(a.unknownFunctions());
        // One catalog-memo lookup per relation: what is known is used below, what is not is asked for.
        Catalog.Relation[] known = new Catalog.Relation[rels.size()];
        List<Catalog.Name> unknownRels = List.of();
        for (int i = 0; i < known.length; i++) {
            Catalog.Name n = rels.get(i);
            known[i] = catalog.relation(context, n.key());
            if (known[i] == null && !unknownRels.contains(n)) {
                if (unknownRels.isEmpty()) {
                    unknownRels = new ArrayList<>();
                }
                unknownRels.add(n);
            }
        }
        List<Catalog.Name> unknownFuncs = funcs.isEmpty() ? List.of() : catalog.unknownFunctions(context, funcs);
        if (!unknownRels.isEmpty() || !unknownFuncs.isEmpty()) {
            if (canAskCatalog()) {
                c.needsCatalog = new NeedCatalog(false, unknownRels, unknownFuncs);
                return c;
            }
            cache.metrics().bypass(catalogFailed() ? "catalog_error" : "catalog_unknown");
            return c;
        }
        for (Catalog.Name f : funcs) {
            if (catalog.function(context, f.key()) != Catalog.Volatility.IMMUTABLE) {
                cache.metrics().bypass("volatile");
                return c;
            }
        }
        Set<String> tokenNames = new HashSet<>();
        List<String> qualified = new ArrayList<>();
        Set<String> settings = Set.of();
        for (Catalog.Relation r : known) {
            if (r.bypass() != null) {
                cache.metrics().bypass(r.bypass());
                return c;
            }
            tokenNames.addAll(r.tokenNames());
            qualified.add(r.qualifiedName());
            if (!r.settings().isEmpty()) {
                if (settings.isEmpty()) {
                    settings = new HashSet<>();
                }
                settings.addAll(r.settings());
            }
        }
        if (!context.hasCustom(settings)) {
            // A policy or view reads a setting this context was read without (it was learned since): read
            // the context again, now with it.
            if (canAskCatalog()) {
                c.needsCatalog = NeedCatalog.CONTEXT_ONLY;
                return c;
            }
            cache.metrics().bypass("context_unknown");
            return c;
        }
        CachePolicy.Decision d = cache.policy().decide(qualified, a.fingerprint(), sql);
        if (!d.cache()) {
            cache.metrics().bypass("rule");
            return c;
        }
        c.shape = shape;
        c.ttl = d.ttl();
        c.settingsKey = context.customKey(settings);
        c.tokenKeys = CacheService.readTokenKeys(database, tokenNames);
        return c;
    }

    private boolean catalogFailed() {
        return catalogHasFailed && System.nanoTime() - catalogFailedAt < CATALOG_RETRY_NANOS;
    }

    /**
     * The isolation level a BEGIN starts: the level it asks for, or the session default if the context pgmemo
     * holds is current; null (unknown until a context read inside the transaction tells it) otherwise.
     */
    private String isolationOfBegin(Analysis begin) {
        if (begin.isolationLevel() != null) {
            return begin.isolationLevel();
        }
        return context != null && !contextDirty ? context.defaultIsolation() : null;
    }

    /** In a transaction whose isolation level pgmemo could not infer at BEGIN: the context read tells it. */
    private boolean txIsolationUnknown() {
        return txStatus == BackendMessage.ReadyForQuery.IN_TRANSACTION && txIsolation == null;
    }

    /**
     * Whether pgmemo may send its own catalog query now: idle, or inside a transaction that has neither failed
     * nor written (wrapped in a savepoint there, so even a failure cannot touch the client's transaction), and
     * where no suspended unnamed portal could be waiting for more Executes: a simple Query would drop it.
     */
    private boolean canAskCatalog() {
        return !catalogFailed() && !unsyncedUpstream && (txStatus == BackendMessage.ReadyForQuery.IDLE
                || txStatus == BackendMessage.ReadyForQuery.IN_TRANSACTION && !txWrote && !unnamedPortalMaySuspend);
    }

    /** Why this session cannot use the cache right now, whatever the query; null if it can. */
    private String sessionBypassReason() {
        if (txStatus == BackendMessage.ReadyForQuery.FAILED) {
            return "failed_transaction";
        }
        if (txStatus == BackendMessage.ReadyForQuery.IN_TRANSACTION) {
            if (txWrote) {
                return "in_transaction";
            }
            if (txIsolation != null && !txIsolation.equalsIgnoreCase("read committed")) {
                return "isolation";
            }
            // Unknown isolation: evaluate() reads it (with the context) before anything may be cached.
        }
        // An unavailable store is not a reason to skip the lookup: ResilientStore answers it at once while its
        // breaker is open or a lost invalidation is not yet covered, and only these lookups let it probe the
        // store and bump the global epoch; skipping them here would leave the cache off for good.
        return null;
    }

    private static List<Catalog.Name> names(Set<TableName> tables) {
        List<Catalog.Name> out = new ArrayList<>(tables.size());
        for (TableName t : tables) {
            out.add(new Catalog.Name(t.schema(), t.name()));
        }
        return out;
    }

    private static List<Catalog.Name> functionNames(Set<String> functions) {
        List<Catalog.Name> out = new ArrayList<>(functions.size());
        for (String f : functions) {
            int dot = f.lastIndexOf('.');
            out.add(dot < 0 ? new Catalog.Name(null, f) : new Catalog.Name(f.substring(0, dot), f.substring(dot + 1)));
        }
        return out;
    }

    /**
     * Looks all executes up at once; runs {@code then} on the event loop when every answer is in. With the Redis
     * store the answers complete on this session's own event loop, so {@code then} runs without a thread hop.
     */
    private void lookup(List<Exec> execs, Runnable then) {
        int n = execs.size();
        int[] outstanding = n > 1 ? new int[] {n} : null;
        for (int i = 0; i < n; i++) {
            Exec x = execs.get(i);
            long sent = System.nanoTime();
            cache.store().lookup(x.key, x.candidate.tokenKeys).whenComplete((Lookup l, Throwable err) -> {
                try {
                    answer(x, l, err, sent);
                } finally {
                    boolean last = true;
                    if (outstanding != null) {
                        synchronized (outstanding) { // answers may complete on different threads
                            last = --outstanding[0] == 0;
                        }
                    }
                    if (last) {
                        onLoop(then);
                    }
                }
            });
        }
    }

    private void answer(Exec x, Lookup l, Throwable err, long sent) {
        if (err != null) {
            if (cache.store().isAvailable()) {
                cache.metrics().storeErrors.increment();
                cache.metrics().bypass("store_error");
            } else {
                cache.metrics().bypass("store_unavailable");
            }
            return;
        }
        List<byte[]> tokens = l.tokens();
        boolean moved = tokens.size() >= 2 && cache.catalog().observeEpoch(database, tokens.get(tokens.size() - 2));
        if (moved || cache.catalog().generation(database) != x.candidate.generation) {
            // The database epoch (the second-to-last token) moved, seen by this lookup or another since the
            // decision read its facts: DDL committed after what it used was learned, maybe through another
            // pgmemo. Neither serve nor store on it.
            cache.metrics().bypass("catalog_changed");
            return;
        }
        x.tokens = tokens;
        if (l.hasEntry()) {
            try {
                CacheEntry entry = CacheEntry.decode(l.entry());
                if (entry.matches(l.tokens())) {
                    x.hit = adaptToDescribe(entry.wire(), x.described);
                }
            } catch (IllegalArgumentException e) {
                log.debug("ignoring a corrupt cache entry: {}", e.getMessage());
            }
        }
        if (x.candidate.shape != null) {
            x.candidate.shape.lookedUp(x.hit != null, System.nanoTime() - sent, x.candidate.ttl);
        }
    }

    /**
     * An extended-protocol entry starts with the RowDescription (or NoData) when it was captured after a
     * Describe. It answers an Execute without Describe by dropping that message; an Execute after Describe
     * needs it, so an entry without it is a miss (and is then replaced by one with it).
     */
    private static byte[] adaptToDescribe(byte[] wire, Boolean described) {
        if (described == null) {
            return wire;
        }
        boolean hasDescription = wire.length >= 5 && (wire[0] == MessageType.ROW_DESCRIPTION || wire[0] == MessageType.NO_DATA);
        if (described) {
            return hasDescription ? wire : null;
        }
        if (!hasDescription) {
            return wire;
        }
        int len = ((wire[1] & 0xff) << 24) | ((wire[2] & 0xff) << 16) | ((wire[3] & 0xff) << 8) | (wire[4] & 0xff);
        return java.util.Arrays.copyOfRange(wire, 1 + len, wire.length);
    }

    private void onLoop(Runnable r) {
        // Continuations run inside store futures' callbacks, which would swallow an exception and leave the
        // session paused forever: end the session instead, as an exception in a channel handler does.
        Runnable guarded = () -> {
            try {
                r.run();
            } catch (RuntimeException | Error e) {
                session.internalError(e);
            }
        };
        if (session.eventLoop().inEventLoop()) {
            guarded.run();
        } else {
            session.eventLoop().execute(guarded);
        }
    }

    // ---- catalog queries ---------------------------------------------------------------------------------

    /** Catalog facts a decision is waiting for. */
    private record NeedCatalog(boolean context, List<Catalog.Name> relations, List<Catalog.Name> functions) {
        /** The session's context and nothing else. */
        static final NeedCatalog CONTEXT_ONLY = new NeedCatalog(true, List.of(), List.of());

        NeedCatalog merge(NeedCatalog o) {
            List<Catalog.Name> r = new ArrayList<>(relations);
            o.relations.stream().filter(n -> !r.contains(n)).forEach(r::add);
            List<Catalog.Name> f = new ArrayList<>(functions);
            o.functions.stream().filter(n -> !f.contains(n)).forEach(f::add);
            return new NeedCatalog(context || o.context, r, f);
        }
    }

    /**
     * Sends one simple Query with pgmemo's catalog questions on the session's own connection (so it runs
     * with the session's user and search_path), skips its replies, and then runs {@code then}. Only used
     * while the session is idle, so it cannot disturb a transaction.
     */
    private void runCatalogQuery(NeedCatalog need, Runnable then) {
        pauseClient();
        if (need.relations().isEmpty() && need.functions().isEmpty()) {
            sendCatalogQuery(need, then, 0);
            return;
        }
        // Facts about tables and functions are dated by the database epoch, read from the store before they are
        // asked for: a lookup that later finds another epoch knows DDL committed since (Catalog.observeEpoch).
        cache.store().tokens(List.of(Keys.databaseEpoch(database))).whenComplete((tokens, err) -> onLoop(() -> {
            if (err == null && !tokens.isEmpty()) {
                cache.catalog().observeEpoch(database, tokens.get(0));
            }
            // (Undated when the store failed: a later lookup finds an epoch other than the last one seen, or none
            // seen yet, and forgets them then.)
            sendCatalogQuery(need, then, cache.catalog().generation(database));
        }));
    }

    private void sendCatalogQuery(NeedCatalog need, Runnable then, long generation) {
        List<String> sql = new ArrayList<>();
        List<Consumer<ByteBuf>> rowHandlers = new ArrayList<>();
        if (need.context() || context == null || contextDirty) {
            List<String> custom = cache.customSettings().names();
            sql.add(SessionContext.query(custom));
            rowHandlers.add(row -> {
                context = SessionContext.fromRow(row, custom);
                contextDirty = false;
                if (txStatus == BackendMessage.ReadyForQuery.IN_TRANSACTION) {
                    txIsolation = context.transactionIsolation();
                }
            });
        }
        // Answers learned across a change of the catalog (DDL committing meanwhile) are not remembered: the
        // decision waiting for them asks again.
        if (!need.relations().isEmpty()) {
            List<Catalog.Name> rels = need.relations();
            cache.metrics().catalogRelationLookups.increment(rels.size());
            sql.add(Catalog.relationsQuery(rels));
            rowHandlers.add(row -> remember(generation, () -> cache.catalog().rememberRelation(context, rels, row)));
        }
        if (!need.functions().isEmpty()) {
            List<Catalog.Name> funcs = need.functions();
            sql.add(Catalog.functionsQuery(funcs));
            rowHandlers.add(row -> remember(generation, () -> cache.catalog().rememberFunction(context, funcs, row)));
        }
        boolean inTransaction = txStatus == BackendMessage.ReadyForQuery.IN_TRANSACTION;
        if (inTransaction) {
            // Inside the client's transaction: a savepoint keeps a failure (say, a statement_timeout) from
            // aborting it; see onReadyForQuery.
            sql.add(0, "SAVEPOINT " + CATALOG_SAVEPOINT);
            rowHandlers.add(0, row -> { });
            sql.add("RELEASE SAVEPOINT " + CATALOG_SAVEPOINT);
        }
        sendInternalQuery(String.join(";\n", sql), rowHandlers, () -> {
            // The client was paused for this catalog query. The continuation either pauses it again (a store
            // lookup, which resumes it when done) or just sends the request on; in that case nothing else would
            // flush it upstream or read the client again, so resume here.
            clientPaused = false;
            then.run();
            if (!clientPaused) {
                resumeClient();
            }
        }, false).savepoint = inTransaction;
    }

    /** Remembers a catalog fact learned in {@code generation}, unless the catalog changed since (or meanwhile). */
    private void remember(long generation, Runnable put) {
        if (cache.catalog().generation(database) != generation) {
            return;
        }
        put.run();
        if (cache.catalog().generation(database) != generation) {
            cache.catalog().invalidateDatabase(database); // changed while it was stored: drop it again
        }
    }

    /**
     * Sends pgmemo's own simple Query upstream; its replies are skipped, its DataRows go to the handlers (one
     * per statement) and {@code then} runs at its ReadyForQuery. {@code first} puts it at the head of the
     * reply queue (only when nothing else is outstanding).
     */
    private InternalQuery sendInternalQuery(String sql, List<Consumer<ByteBuf>> rowHandlers, Runnable then, boolean first) {
        if (!first) {
            sendDeferredCloses(); // ahead of the query, as their replies are queued; a first query goes before them
        }
        cache.metrics().catalogLookups.increment();
        // A simple Query drops the unnamed statement and portal: the client's next Bind to it gets a Parse first.
        Statement unnamed = statements.get("");
        if (unnamed != null) {
            unnamed.upstreamPrepared = false;
        }
        portals.remove("");
        Pending p = newPending(INTERNAL);
        p.skip = true;
        p.internal = new InternalQuery(rowHandlers, then);
        if (first) {
            pending.addFirst(p);
        } else {
            pending.add(p);
        }
        session.writeUpstream(new FrontendMessage.Query(sql).encode(session.alloc()));
        session.flushUpstream();
        return p.internal;
    }

    private static final byte INTERNAL = 'i';
    private static final String CATALOG_SAVEPOINT = "pgmemo_catalog";

    // ---- effects of statements sent upstream -------------------------------------------------------------

    /** Records what a statement sent upstream may change: tables to invalidate, session context, transaction. */
    private void noteEffects(Analysis a) {
        switch (a.kind()) {
            case SELECT -> {
                if (!a.unknownFunctions().isEmpty()) {
                    // A user function may call set_config whatever its declared volatility.
                    dirtyContext();
                    lexingMayChange();
                }
                if (!a.unknownFunctions().isEmpty() && context != null) {
                    for (Catalog.Name f : functionNames(a.unknownFunctions())) {
                        Catalog.Volatility v = cache.catalog().function(context, f.key());
                        if (v != Catalog.Volatility.IMMUTABLE && v != Catalog.Volatility.STABLE) {
                            // A volatile user function may write anything and change session settings.
                            noteUnknownWrite();
                            return;
                        }
                    }
                } else if (!a.unknownFunctions().isEmpty()) {
                    noteUnknownWrite();
                    return;
                }
                if (a.callsSetConfig()) {
                    dirtyContext();
                    lexingMayChange();
                }
                if (a.writesUnknown()) {
                    noteUnknownWrite();
                } else if (!a.writes().isEmpty()) {
                    noteWrites(a);
                }
            }
            case INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY_FROM, REFRESH_MATVIEW -> noteWrites(a);
            case BEGIN -> {
                txIsolation = isolationOfBegin(a);
                txWrote = false;
            }
            case PREPARE -> {
                // Plans a statement: no data or setting changes until EXECUTE; its name is taken.
                if (a.settingName() != null) {
                    sqlPrepared.add(a.settingName());
                } else {
                    sqlPrepareUnknown = true;
                }
            }
            case DEALLOCATE -> forgetPrepared(a);
            case SET, RESET, DISCARD -> {
                forgetPrepared(a);
                dirtyContext();
                if (a.settingName() == null || "all".equals(a.settingName())
                        || "standard_conforming_strings".equals(a.settingName())) {
                    lexingMayChange();
                }
                // SET TRANSACTION changes the running transaction; default_transaction_isolation and SESSION
                // CHARACTERISTICS only later ones (the context read tells those).
                if (a.isolationLevel() != null && txStatus != BackendMessage.ReadyForQuery.IDLE
                        && ("transaction".equals(a.settingName()) || "transaction_isolation".equals(a.settingName()))) {
                    txIsolation = a.isolationLevel();
                }
            }
            case DDL, GRANT_REVOKE -> {
                cache.catalog().invalidateDatabase(database);
                dirtyContext();
                noteWrites(a);
                noted.epoch = true;
                txWrote = true;
            }
            case COMMIT, ROLLBACK -> {
                // The transaction ends here, even when AND CHAIN opens the next one at once.
                Writes before = notedBeforeEnd == null ? new Writes() : notedBeforeEnd;
                before.addAll(noted);
                noted = new Writes();
                notedBeforeEnd = before;
            }
            case SAVEPOINT -> {
                // ROLLBACK TO SAVEPOINT undoes the SETs (and SET ROLE) made since the savepoint.
                if (txDirtiedContext) {
                    contextDirty = true;
                }
            }
            case SHOW, EMPTY, LISTEN_NOTIFY, LOCK, VACUUM_ANALYZE, COPY_TO -> {
                if (a.writesUnknown()) {
                    noteUnknownWrite();
                }
            }
            case EXPLAIN -> {
                if (a.writesUnknown() || !a.writes().isEmpty()) {
                    noteWrites(a);
                }
            }
            default -> noteUnknownWrite(); // CALL, DO, EXECUTE, OTHER, UNPARSEABLE
        }
    }

    private boolean pendingGroupsWrote() {
        for (Pending p : pending) {
            if (p.writes != null || p.writesBeforeEnd != null) {
                return true;
            }
        }
        return false;
    }

    private void noteWrites(Analysis a) {
        txWrote = true;
        if (a.writesUnknown()) {
            noted.epoch = true;
        }
        for (TableName t : a.writes()) {
            noted.tables.add(t.name());
            noted.targets.add(new Catalog.Name(t.schema(), t.name()));
            if ("pg_catalog".equals(t.schema()) || "pg_settings".equals(t.name())) {
                // UPDATE pg_settings is SET by other means.
                dirtyContext();
                noted.epoch = true;
            }
        }
    }

    private void noteUnknownWrite() {
        txWrote = true;
        noted.epoch = true;
        dirtyContext();
        lexingMayChange();
    }

    /**
     * A statement sent upstream may turn standard_conforming_strings off (SET, set_config, code pgmemo cannot
     * see): until its ReadyForQuery (with any ParameterStatus before it) tells, what follows is analysed as if
     * it were off.
     */
    private void lexingMayChange() {
        standardConformingStrings = false;
    }

    private void dirtyContext() {
        contextDirty = true;
        txDirtiedContext = true;
    }

    // =====================================================================================================
    // Upstream -> client
    // =====================================================================================================

    void onUpstreamFrame(ByteBuf frame) {
        if (upstreamPaused) {
            upstreamBacklog.add(frame);
            if (upstreamBacklogFull()) {
                session.updateReading();
            }
            return;
        }
        processUpstreamFrame(frame);
    }

    private void processUpstreamFrame(ByteBuf frame) {
        byte type = frame.getByte(frame.readerIndex());
        Pending head = pending.peek();
        // Asynchronous messages may arrive at any time (PostgreSQL docs 55.2.7).
        if (type == MessageType.NOTICE_RESPONSE || type == MessageType.NOTIFICATION_RESPONSE
                || type == MessageType.PARAMETER_STATUS) {
            if (type == MessageType.PARAMETER_STATUS) {
                contextDirty = true;
                BackendMessage.ParameterStatus ps = BackendMessage.ParameterStatus.decode(frame);
                if ("standard_conforming_strings".equals(ps.name())) {
                    standardConformingStringsReported = "on".equals(ps.value());
                    standardConformingStrings = standardConformingStringsReported && standardConformingStrings;
                } else if ("client_encoding".equals(ps.name())) {
                    clientEncodingAsciiSafe = asciiSafeEncoding(ps.value());
                }
            }
            if (head != null && head.skip && type == MessageType.NOTICE_RESPONSE) {
                // pgmemo's own request's notice. A notification is the client's (LISTEN), whenever it comes; so is a
                // ParameterStatus (pgmemo's queries set nothing: it reports a change made elsewhere, a reload)
                frame.release();
                return;
            }
            if (type == MessageType.NOTICE_RESPONSE && head != null) {
                // A notice belongs to the request group it arrives in, wherever in it (a function folded at Bind
                // raises its notice before the Execute's rows): nothing of that group is stored.
                failCapturesOfCurrentGroup("notice");
            }
            session.writeClient(frame);
            return;
        }
        if (type == MessageType.COPY_IN_RESPONSE) {
            onCopyInResponse(head);
        } else if (type == MessageType.ERROR_RESPONSE && copyInOpen) {
            copyInOpen = false; // the copy failed: PostgreSQL has left copy-in mode
        }
        if (head == null) {
            if (type == MessageType.READY_FOR_QUERY) {
                txStatus = BackendMessage.ReadyForQuery.decode(frame).status(); // unexpected, but keep the status true
            }
            session.writeClient(frame);
            return;
        }
        switch (head.kind) {
            case MessageType.QUERY, MessageType.FUNCTION_CALL, INTERNAL -> {
                if (type == MessageType.READY_FOR_QUERY) {
                    pending.poll();
                    onReadyForQuery(frame, head);
                    return;
                }
                if (type == MessageType.ERROR_RESPONSE) {
                    head.error = true;
                    if (head.internal != null) {
                        head.internal.failed = true;
                        log.warn("{} pgmemo's catalog query failed: {}", session.prefix(),
                                BackendMessage.ErrorOrNotice.decode(frame).message());
                    }
                } else if (head.internal != null && type == MessageType.DATA_ROW) {
                    head.internal.row(frame);
                } else if (head.internal != null && type == MessageType.COMMAND_COMPLETE) {
                    head.internal.statementDone();
                }
                if (head.capture != null) {
                    head.capture.add(frame, type);
                }
                relayOrDrop(frame, head);
            }
            case MessageType.SYNC -> {
                if (type == MessageType.READY_FOR_QUERY) {
                    pending.poll();
                    onReadyForQuery(frame, head);
                } else {
                    relayOrDrop(frame, head);
                }
            }
            default -> onExtendedReply(frame, type, head);
        }
    }

    /**
     * PostgreSQL entered copy-in mode for the request at the head of the queue: every Sync sent after it and
     * before the client's CopyDone/CopyFail reaches PostgreSQL in that mode and is ignored, so no ReadyForQuery
     * will answer it.
     */
    private void onCopyInResponse(Pending head) {
        // This copy ends with the first CopyDone/CopyFail the client sent after the request that started it.
        long ending = head == null ? copyEndsSent + 1 : head.copyEndsBefore + ++head.copiesStarted;
        while (!copyEnds.isEmpty() && copyEnds.peek()[0] < ending) {
            copyEnds.poll();
        }
        long[] end = !copyEnds.isEmpty() && copyEnds.peek()[0] == ending ? copyEnds.poll() : null;
        long lastIgnored = end != null ? end[1] : syncsSent;
        copyInOpen = end == null && copyEndsSent < ending;
        if (copyInOpen && waitingForEarlierReplies) {
            // A request was waiting for this COPY's ReadyForQuery, which comes only after the copy data: send it
            // on now (PostgreSQL refuses it in copy-in mode, as it would without pgmemo).
            waitingForEarlierReplies = false;
            onLoop(this::resumeClient);
        }
        for (var it = pending.iterator(); it.hasNext(); ) {
            Pending p = it.next();
            if (p != head && p.kind == MessageType.SYNC && p.syncNumber <= lastIgnored) {
                discardGroup(p);
                it.remove();
            }
        }
    }

    private void onExtendedReply(ByteBuf frame, byte type, Pending head) {
        if (type == MessageType.ERROR_RESPONSE) {
            // The backend now discards messages until Sync: the replies we expected before it never come. The
            // error is the client's even when pgmemo's own message failed (an injected Parse whose table is
            // gone): the client's requests behind it are discarded, and it must hear why.
            session.writeClient(frame);
            ArrayDeque<Runnable> undos = new ArrayDeque<>(); // a stack: the latest first
            while (!pending.isEmpty() && pending.peek().kind != MessageType.SYNC) {
                Pending dropped = pending.poll();
                if (dropped.capture != null) {
                    dropped.capture.fail("error");
                }
                if (dropped.undo != null) {
                    undos.push(dropped.undo);
                }
            }
            // What the failed and the discarded messages did to pgmemo's statement and portal tables did not
            // happen in PostgreSQL.
            undos.forEach(Runnable::run);
            if (!pending.isEmpty()) {
                pending.peek().error = true;
            } else {
                upstreamDiscarding = true; // until a Sync the client has not sent yet (it used a Flush)
            }
            return;
        }
        if (head.capture != null) {
            head.capture.add(frame, type);
        }
        boolean done = switch (head.kind) {
            case MessageType.PARSE -> type == MessageType.PARSE_COMPLETE;
            case MessageType.BIND -> type == MessageType.BIND_COMPLETE;
            case MessageType.DESCRIBE -> type == MessageType.ROW_DESCRIPTION || type == MessageType.NO_DATA;
            case MessageType.CLOSE -> type == MessageType.CLOSE_COMPLETE;
            case MessageType.EXECUTE -> type == MessageType.COMMAND_COMPLETE || type == MessageType.EMPTY_QUERY_RESPONSE
                    || type == MessageType.PORTAL_SUSPENDED;
            default -> false;
        };
        if (done) {
            pending.poll();
            if (head.kind == MessageType.EXECUTE && head.capture != null) {
                if (type == MessageType.COMMAND_COMPLETE) {
                    head.capture.complete = true;
                } else {
                    head.capture.fail("incomplete");
                }
            }
        }
        relayOrDrop(frame, head);
    }

    private void failCapturesOfCurrentGroup(String reason) {
        for (Pending p : pending) {
            if (p.capture != null) {
                p.capture.fail(reason);
            }
            if (p.groupCaptures != null) {
                p.groupCaptures.forEach(c -> c.fail(reason));
            }
            if (p.kind == MessageType.SYNC || p.kind == MessageType.QUERY || p.kind == INTERNAL) {
                return;
            }
        }
    }

    private void relayOrDrop(ByteBuf frame, Pending head) {
        if (head.skip) {
            frame.release();
        } else {
            session.writeClient(frame);
        }
    }

    private void onReadyForQuery(ByteBuf frame, Pending head) {
        if (pending.isEmpty()) {
            copyEnds.clear(); // ends of copies that never started (the COPY failed): nothing waits for them
        }
        byte status = BackendMessage.ReadyForQuery.decode(frame).status();
        byte previous = txStatus;
        txStatus = status;
        if (pending.isEmpty()) {
            standardConformingStrings = standardConformingStringsReported; // every statement sent has been answered
        }
        if (head.capture != null && head.kind == MessageType.QUERY && !head.error) {
            head.capture.complete = head.capture.sawCommandComplete;
        }
        storeCaptures(head, status);
        txWrites.addAll(head.writesBeforeEnd);
        if (head.endsTransaction && !txWrites.isEmpty()) {
            toBump.addAll(txWrites);
            txWrites.clear();
        }
        txWrites.addAll(head.writes);
        if (status == BackendMessage.ReadyForQuery.IDLE && !txWrites.isEmpty()) {
            toBump.addAll(txWrites);
            txWrites.clear();
        }
        if (status == BackendMessage.ReadyForQuery.IDLE) {
            portals.clear(); // protocol-level portals never outlive their transaction
            unnamedPortalMaySuspend = false;
        }
        if (status == BackendMessage.ReadyForQuery.IDLE || head.endsTransaction) {
            if ((previous != BackendMessage.ReadyForQuery.IDLE || head.endsTransaction) && txDirtiedContext) {
                contextDirty = true; // SET LOCAL ends, ROLLBACK undoes SETs
            }
            txDirtiedContext = false;
            txIsolation = null;
            // Writes of a transaction chained to the one that ended (or pipelined behind it) still count.
            txWrote = !txWrites.isEmpty() || !noted.isEmpty() || notedBeforeEnd != null || pendingGroupsWrote();
        }
        if (head.internal != null) {
            frame.release();
            if (head.internal.failed) {
                catalogHasFailed = true;
                catalogFailedAt = System.nanoTime();
            }
            if (status == BackendMessage.ReadyForQuery.FAILED && head.internal.savepoint) {
                // pgmemo's own query failed inside the client's transaction: undo it to its savepoint, so
                // the transaction is exactly as the client left it, then go on.
                InternalQuery failed = head.internal;
                sendInternalQuery("ROLLBACK TO SAVEPOINT " + CATALOG_SAVEPOINT + ";\nRELEASE SAVEPOINT " + CATALOG_SAVEPOINT,
                        List.of(), failed::done, true);
                return;
            }
            head.internal.done();
            return;
        }
        if (!toBump.isEmpty()) {
            invalidateThenRelay(frame, status);
            return;
        }
        relayReadyForQuery(frame, status);
    }

    private void relayReadyForQuery(ByteBuf frame, byte status) {
        session.writeClient(frame);
        session.onReadyForQueryRelayed(status);
        boolean held = readyForQueryHeld;
        readyForQueryHeld = false;
        if (waitingForEarlierReplies && pending.isEmpty()) {
            waitingForEarlierReplies = false;
            resumeClient();
        } else if (held && !waitingForEarlierReplies) {
            resumeClient();
        }
    }

    /**
     * The transaction that wrote has ended (committed or rolled back): replace the version tokens of what it
     * wrote, and only then let the client see ReadyForQuery, so that its next read, and every read that
     * starts after it, misses the old entries.
     */
    private void invalidateThenRelay(ByteBuf frame, byte status) {
        pauseUpstream();
        // Nothing the client sent after this request is looked at until it has this ReadyForQuery: a read could
        // be answered from entries the bump is about to make unreachable, and ahead of the ReadyForQuery; a
        // pipelined write's tables would be bumped now, before it commits, and not again after.
        readyForQueryHeld = true;
        pauseClient();
        if (!toBump.targets.isEmpty() && context != null && !contextDirty && !catalogFailed()) {
            // What pgmemo remembers about the written tables (triggers, views, foreign keys) may be outdated by
            // DDL through another pgmemo: that DDL replaced the database epoch, so look at it first.
            cache.store().tokens(List.of(Keys.databaseEpoch(database))).whenComplete((tokens, err) -> onLoop(() -> {
                if (err == null) {
                    cache.catalog().observeEpoch(database, tokens.get(0));
                } else {
                    toBump.epoch = true; // cannot tell: invalidate everything the write could have reached
                }
                resolveWriteTargetsThenBump(frame, status);
            }));
            return;
        }
        bumpAndRelay(frame, status);
    }

    private void resolveWriteTargetsThenBump(ByteBuf frame, byte status) {
        if (!toBump.targets.isEmpty() && context != null && !contextDirty && !catalogFailed()) {
            List<Catalog.Name> unknown = cache.catalog().unknownRelations(context, toBump.targets);
            if (!unknown.isEmpty()) {
                if (status == BackendMessage.ReadyForQuery.IDLE && pending.isEmpty() && upstreamBacklog.isEmpty()) {
                    // Learn the written relations' views, partitions and foreign keys first (the session is idle now;
                    // after COMMIT AND CHAIN it is not, and a query of pgmemo's would run in the client's transaction).
                    sendCatalogQueryBeforeBump(unknown, frame, status);
                    return;
                }
                // Replies to pipelined requests (or notifications read meanwhile) are still due and would come
                // before the catalog query's: do not ask now; invalidate the whole database instead.
                toBump.epoch = true;
            }
        }
        bumpAndRelay(frame, status);
    }

    private void sendCatalogQueryBeforeBump(List<Catalog.Name> unknown, ByteBuf frame, byte status) {
        sendInternalQuery(Catalog.relationsQuery(unknown),
                List.of(row -> cache.catalog().rememberRelation(context, unknown, row)),
                () -> bumpAndRelay(frame, status), true);
        // Its reply must be processed even though the upstream is otherwise paused for the bump.
        upstreamPaused = false;
        session.updateReading();
    }

    private void bumpAndRelay(ByteBuf frame, byte status) {
        upstreamPaused = true;
        Set<String> names = new LinkedHashSet<>(toBump.tables);
        boolean epoch = toBump.epoch;
        boolean global = false; // a foreign table was written: its data may live in any database
        if (context != null && !contextDirty) {
            for (Catalog.Name n : toBump.targets) {
                Catalog.Relation r = cache.catalog().relation(context, n.key());
                if (r == null) {
                    epoch = true; // its views, partitions, cascades and triggers are unknown
                    continue;
                }
                names.addAll(r.writeNames());
                names.addAll(r.cascadeNames());
                epoch |= r.userTriggers();
                global |= r.foreignWrite();
            }
        } else if (!toBump.targets.isEmpty()) {
            epoch = true; // the written relations' dependants are unknown
        }
        toBump.clear();
        if (epoch) {
            // DDL (or code pgmemo cannot see) has committed: what is known of the database's tables and
            // functions may be outdated, including facts a concurrent catalog query is learning right now.
            cache.catalog().invalidateDatabase(database);
        }
        List<byte[]> keys = new ArrayList<>();
        for (String n : names) {
            keys.add(CacheService.tableToken(database, n));
        }
        if (epoch) {
            keys.add(Keys.databaseEpoch(database));
        }
        if (global) {
            keys.add(Keys.globalEpoch());
        }
        cache.metrics().invalidations.increment(keys.size());
        cache.store().bump(keys).whenComplete((v, err) -> onLoop(() -> {
            if (err != null) {
                cache.metrics().storeErrors.increment();
            }
            try {
                relayReadyForQuery(frame, status);
                session.flushClient();
            } finally {
                resumeUpstream();
            }
            session.recheckAfterReadyForQuery(); // it was not idle while paused: a drain or half-close waits on it
        }));
    }

    private void storeCaptures(Pending head, byte status) {
        if (head.groupCaptures == null || head.groupCaptures.isEmpty()) {
            return;
        }
        for (Capture c : head.groupCaptures) {
            if (c.shape != null) {
                // PostgreSQL's time for this miss, stored or not (a shape whose results are never stored
                // must still be judged).
                c.shape.answeredUpstream(System.nanoTime() - c.sentAt);
            }
            String reason = c.failure != null ? c.failure
                    : head.error ? "error"
                    : !c.complete ? "incomplete"
                    : status == BackendMessage.ReadyForQuery.FAILED ? "error"
                    : null;
            if (reason != null) {
                cache.metrics().notStored(reason);
                c.discard();
                continue;
            }
            long storing = System.nanoTime(); // from the copy of the result to the store's answer
            byte[] wire = c.bytes();
            c.discard();
            byte[] entry = new CacheEntry(c.tokens, wire).encode();
            Admission.Shape shape = c.shape;
            cache.store().put(c.key, entry, c.ttl).whenComplete((v, err) -> {
                if (shape != null) {
                    shape.stored(System.nanoTime() - storing);
                }
                if (err != null) {
                    cache.metrics().storeErrors.increment();
                } else {
                    cache.metrics().stores.increment();
                }
            });
        }
        head.groupCaptures = null;
    }

    // ---- pausing -----------------------------------------------------------------------------------------

    private void pauseClient() {
        clientPaused = true;
    }

    private void resumeClient() {
        clientPaused = false;
        while (!clientPaused && !clientBacklog.isEmpty()) {
            processClientFrame(clientBacklog.poll());
        }
        session.flushUpstream();
        if (!clientPaused) {
            session.updateReading();
            session.flowResumed();
        }
    }

    private void pauseUpstream() {
        upstreamPaused = true;
    }

    private void resumeUpstream() {
        upstreamPaused = false;
        while (!upstreamPaused && !upstreamBacklog.isEmpty()) {
            processUpstreamFrame(upstreamBacklog.poll());
        }
        session.flushClient();
        if (!upstreamPaused) {
            session.updateReading();
        }
    }

    // =====================================================================================================
    // Small types
    // =====================================================================================================

    /** A reply PostgreSQL still owes: kind is the request's message type (or INTERNAL). */
    private static final class Pending {
        final byte kind;
        boolean skip;
        Capture capture;
        InternalQuery internal;
        /** For Sync and Query: the captures to store when their ReadyForQuery arrives. */
        List<Capture> groupCaptures;
        /** For Sync and Query: an ErrorResponse came in this group. */
        boolean error;
        /** For Sync: its number in syncsSent. */
        long syncNumber;
        /** copyEndsSent when this request went upstream. */
        long copyEndsBefore;
        /** CopyInResponses this request has had (a simple Query may run several COPY FROM STDIN). */
        int copiesStarted;
        /** Undoes this message's change to the statement or portal table, if PostgreSQL fails or discards it. */
        Runnable undo;
        /** For requests ending a group: its writes noted up to its last COMMIT/ROLLBACK, and whether it had one. */
        Writes writesBeforeEnd;
        boolean endsTransaction;
        /** For requests ending a group: its writes noted after that (or all of them), or null. */
        Writes writes;

        private Pending(byte kind) {
            this.kind = kind;
        }
    }

    /** Writes to invalidate: relation names, relations whose dependants must be looked up, the whole database. */
    private static final class Writes {
        final Set<String> tables = new LinkedHashSet<>();
        final Set<Catalog.Name> targets = new LinkedHashSet<>();
        boolean epoch;

        boolean isEmpty() {
            return !epoch && tables.isEmpty() && targets.isEmpty();
        }

        void addAll(Writes other) {
            if (other != null) {
                tables.addAll(other.tables);
                targets.addAll(other.targets);
                epoch |= other.epoch;
            }
        }

        void clear() {
            tables.clear();
            targets.clear();
            epoch = false;
        }
    }

    /** A message held until Sync; a Parse keeps its analysis, made once however often the batch is walked. */
    private static final class Held {
        final ByteBuf frame;
        final FrontendMessage msg;
        Analysis analysis;

        Held(ByteBuf frame, FrontendMessage msg) {
            this.frame = frame;
            this.msg = msg;
        }
    }

    /** The analysis of a held Parse's statement (it depends on the SQL text alone). */
    private Analysis analysisOf(Held h, FrontendMessage.Parse parse) {
        if (h.analysis == null) {
            h.analysis = analyze(parse.sql());
        }
        return h.analysis;
    }

    /** A statement as the client prepared it. */
    private static final class Statement {
        final FrontendMessage.Parse parse;
        final Analysis analysis;
        boolean upstreamPrepared = true;

        Statement(FrontendMessage.Parse parse, Analysis analysis) {
            this.parse = parse;
            this.analysis = analysis;
        }
    }

    /** A portal as the client bound it. */
    /**
     * What a map would hold after the batch's changes, without copying it: the batch walk's view of the
     * session's statements or portals (a batch changes a handful of names; copying the maps cost two HashMaps
     * per Sync). Values are never null, so null means absent.
     */
    private static final class Overlay<V> {
        private final Map<String, V> base;
        private final List<String> names = new ArrayList<>(4);
        private final List<V> values = new ArrayList<>(4);

        Overlay(Map<String, V> base) {
            this.base = base;
        }

        V get(String name) {
            for (int i = names.size() - 1; i >= 0; i--) {
                if (names.get(i).equals(name)) {
                    return values.get(i);
                }
            }
            return base.get(name);
        }

        boolean containsKey(String name) {
            return get(name) != null;
        }

        void put(String name, V value) {
            names.add(name);
            values.add(value);
        }

        V remove(String name) {
            V old = get(name);
            if (old != null) {
                put(name, null);
            }
            return old;
        }
    }

    private record Portal(Statement statement, FrontendMessage.Bind bind) {
    }

    /** The verdict for one candidate: a catalog request, a bypass (no tokens), or tokens and TTL. */
    private static final class Candidate {
        NeedCatalog needsCatalog;
        Duration ttl;
        /** The custom settings (app.tenant, ...) the result depends on, for the key. */
        byte[] settingsKey;
        List<byte[]> tokenKeys;
        /** The query's shape when admission control is on (cache.admission: cost), else null. */
        Admission.Shape shape;
        /** Catalog.generation when the decision read the catalog facts it rests on. */
        long generation;

        boolean cacheable() {
            return tokenKeys != null;
        }
    }

    /** One Execute (or simple Query) looked up in the cache. */
    private static final class Exec {
        final Candidate candidate;
        final byte[] key;
        /** Whether Describe preceded this Execute; null for a simple Query. */
        final Boolean described;
        int batchIndex;
        List<byte[]> tokens;
        byte[] hit;
        private Capture capture;

        Exec(Candidate candidate, byte[] key, Boolean described) {
            this.candidate = candidate;
            this.key = key;
            this.described = described;
        }

        Capture capture(CacheService cache) {
            if (capture == null) {
                capture = new Capture(key, tokens, candidate.ttl, cache.maxEntrySize(), candidate.shape);
            }
            return capture;
        }
    }

    /** Copies of the frames of one result, to be stored if it completes cleanly. */
    private static final class Capture {
        final byte[] key;
        final List<byte[]> tokens;
        final Duration ttl;
        final long max;
        /** The query's shape (for admission), or null; and when the request went to PostgreSQL. */
        final Admission.Shape shape;
        final long sentAt = System.nanoTime();
        ByteBuf buf = Unpooled.buffer(256);
        boolean complete;
        boolean sawCommandComplete;
        String failure;

        Capture(byte[] key, List<byte[]> tokens, Duration ttl, long max, Admission.Shape shape) {
            this.key = key;
            this.tokens = tokens;
            this.ttl = ttl;
            this.max = max;
            this.shape = shape;
        }

        void add(ByteBuf frame, byte type) {
            if (failure != null || buf == null) {
                return;
            }
            switch (type) {
                case MessageType.ROW_DESCRIPTION, MessageType.NO_DATA, MessageType.DATA_ROW -> {
                }
                case MessageType.COMMAND_COMPLETE -> {
                    if (sawCommandComplete) {
                        fail("multiple_results");
                        return;
                    }
                    sawCommandComplete = true;
                }
                case MessageType.ERROR_RESPONSE -> {
                    fail("error");
                    return;
                }
                default -> {
                    fail("unexpected_message");
                    return;
                }
            }
            if (buf.readableBytes() + frame.readableBytes() > max) {
                fail("too_large");
                return;
            }
            buf.writeBytes(frame, frame.readerIndex(), frame.readableBytes());
        }

        void fail(String reason) {
            if (failure == null) {
                failure = reason;
            }
            if (buf != null) {
                buf.release();
                buf = null;
            }
        }

        byte[] bytes() {
            byte[] out = new byte[buf.readableBytes()];
            buf.getBytes(buf.readerIndex(), out);
            return out;
        }

        void discard() {
            if (buf != null) {
                buf.release();
                buf = null;
            }
        }
    }

    /** pgmemo's own catalog query: one row handler per statement, then a continuation. */
    private static final class InternalQuery {
        final List<Consumer<ByteBuf>> handlers;
        final Runnable then;
        int statement;
        boolean failed;
        /** It began with pgmemo's savepoint (inside the client's transaction): a failure is rolled back to it. */
        boolean savepoint;

        InternalQuery(List<Consumer<ByteBuf>> handlers, Runnable then) {
            this.handlers = handlers;
            this.then = then;
        }

        void row(ByteBuf frame) {
            if (failed || statement >= handlers.size()) {
                return;
            }
            try {
                handlers.get(statement).accept(frame);
            } catch (RuntimeException e) {
                failed = true;
                log.warn("could not read pgmemo's catalog query result: {}", e.toString());
            }
        }

        void statementDone() {
            statement++;
        }

        void done() {
            then.run();
        }
    }
}
