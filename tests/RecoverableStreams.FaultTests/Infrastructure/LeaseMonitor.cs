using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace RecoverableStreams.FaultTests.Infrastructure;

/// <summary>
/// Records every lease Redis grants, with its fencing token, by reading <c>MONITOR</c> (which shows the commands run
/// inside Lua scripts as <c>[0 lua] "SET" "{L}:lease:&lt;lbsId&gt;" "&lt;consumer&gt;|&lt;instance&gt;|&lt;token&gt;" "PX" ...</c>).
/// The fence counter is global and only increases (while Redis keeps its data), so when the monitor was disconnected
/// (a Redis restart) the tokens granted meanwhile are exactly those between the last one seen before and the first one
/// seen after: <see cref="Gaps"/>.
/// <para>
/// It also checks exclusivity from the same log (<see cref="Exclusivity"/>): no lease is granted while an earlier
/// lease on that entry is still live (its last SET or PEXPIRE plus its time to live, unless a DEL ended it), and every
/// ownership-checked write a script accepts (a <c>GET</c> of the lease key followed, in the same script, by a write to
/// that entry's keys) was checked against the entry's latest lease value. A check that no write follows is a write
/// refused by fencing; with session leases, so is a script that returned right after finding the caller's session
/// dead (a <c>ZSCORE {L}:sessions</c> and nothing more). This is the one place that knows the lease scripts' MONITOR shapes and key names: when the
/// scripts change, only this class changes.
/// </para>
/// <para>
/// It reads both lease models: per-stream lease keys (<c>SET/GET/PEXPIRE/DEL {L}:lease:&lt;id&gt;</c>, a lease live until
/// its time to live ends) and session leases (docs/ARCHITECTURE.md: <c>HSET/HGET/HDEL {L}:owners &lt;id&gt;
/// &lt;session&gt;|&lt;token&gt;</c>, a record live while its session's deadline in <c>ZADD {L}:sessions</c> has not
/// passed). A lease value is <c>&lt;consumer&gt;|&lt;instance or session suffix&gt;|&lt;token&gt;</c> in both.
/// </para>
/// <para>
/// A service with several partitions (<c>RecoverableStreamOptions.Partitions</c>) has one control prefix per partition,
/// each with its own records, sessions and fence counter: the monitor reads every prefix it is given, keeps each
/// partition's state apart and names an entry as applications see it (<c>&lt;partition&gt;:&lt;entry id&gt;</c> with more
/// than one partition, the entry id alone with one). A script runs in one partition (its keys share one hash slot).
/// </para>
/// </summary>
internal sealed partial class LeaseMonitor : IAsyncDisposable
{
    private readonly string _host;
    private readonly int _port;
    private readonly string[] _prefixes;
    private readonly string[] _leasePrefixes;
    private readonly string[] _checkpointPrefixes;
    private readonly string[] _ownersKeys;
    private readonly string[] _sessionsKeys;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Grant>> _grants = new(StringComparer.Ordinal);
    private readonly List<(int Partition, long After, long Before)> _gaps = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly TaskCompletionSource _firstConnect = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Per partition (each has its own fence counter): the last token seen, and an open gap's lower bound.</summary>
    private readonly long[] _lastToken;
    private readonly bool[] _gapOpen;
    private readonly long[] _gapAfter;
    private readonly long[] _grantsByPartition;

    /// <summary>Leases whose state spans a monitor disconnection are not judged: what happened meanwhile is unknown.</summary>
    private int _epoch;
    private readonly Dictionary<string, LeaseState> _leases = new(StringComparer.Ordinal);

    /// <summary>Session model: each session's deadline (ms, Redis clock) in each partition from its latest ZADD; 0 once removed.</summary>
    private readonly Dictionary<(int Partition, string Session), long> _sessionDeadlines = [];
    private readonly List<string> _overlaps = [];
    private readonly List<string> _staleAccepted = [];
    private int _acceptedWrites;
    private int _refusedWrites;
    private int _staleRefused;
    private int _lateSessionCallsRefused;

    /// <summary>Refusals per calling session (<c>consumer|suffix</c>): what a faulted worker's own late calls met.</summary>
    private readonly Dictionary<string, SessionRefusals> _refusedBySession = new(StringComparer.Ordinal);

    /// <summary>Renewals seen per session and partition (µs, Redis clock), to show a renewal came late.</summary>
    private readonly Dictionary<(int Partition, string Session), List<long>> _renewals = [];

    /// <summary>When each session was opened in each partition (µs): the silence before its first renewal counts too.</summary>
    private readonly Dictionary<(int Partition, string Session), long> _sessionOpens = [];

    /// <summary>The deadline (µs) each session's own latest renewal or opening set in each partition.</summary>
    private readonly Dictionary<(int Partition, string Session), long> _ownDeadlines = [];

    /// <summary>When each session last ended in each partition (µs): removed, or its deadline set to 0 by a close.</summary>
    private readonly Dictionary<(int Partition, string Session), long> _sessionEnds = [];
    private readonly List<string> _revived = [];
    private ScriptCall? _call;

    /// <param name="controlPrefix">The prefix of the service's control keys, <c>{L}:</c>.</param>
    public LeaseMonitor(string host, int port, string controlPrefix)
        : this(host, port, [controlPrefix])
    {
    }

    /// <param name="controlPrefixes">Each partition's control-key prefix <c>{L_i}:</c>, in partition order.</param>
    public LeaseMonitor(string host, int port, IReadOnlyList<string> controlPrefixes)
    {
        ArgumentOutOfRangeException.ThrowIfZero(controlPrefixes.Count);
        _host = host;
        _port = port;
        _prefixes = [.. controlPrefixes];
        _leasePrefixes = [.. controlPrefixes.Select(p => p + "lease:")];
        _checkpointPrefixes = [.. controlPrefixes.Select(p => p + "ckpt:")];
        _ownersKeys = [.. controlPrefixes.Select(p => p + "owners")];
        _sessionsKeys = [.. controlPrefixes.Select(p => p + "sessions")];
        _lastToken = new long[controlPrefixes.Count];
        _gapOpen = new bool[controlPrefixes.Count];
        _gapAfter = new long[controlPrefixes.Count];
        _grantsByPartition = new long[controlPrefixes.Count];
        _loop = Task.Run(RunAsync);
    }

    public int Reconnects { get; private set; }

    public long GrantsSeen { get; private set; }

    /// <summary>Grants seen in each partition (index as in the prefixes given): each prefix is really read.</summary>
    public IReadOnlyList<long> GrantsByPartition
    {
        get
        {
            lock (_gate)
            {
                return [.. _grantsByPartition];
            }
        }
    }

    /// <summary>Token ranges (exclusive bounds) granted in a partition while the monitor was not connected.</summary>
    public IReadOnlyList<(int Partition, long After, long Before)> Gaps
    {
        get
        {
            lock (_gate)
            {
                var gaps = _gaps.ToList();
                for (var p = 0; p < _prefixes.Length; p++)
                {
                    if (_gapOpen[p])
                    {
                        gaps.Add((p, _gapAfter[p], long.MaxValue));
                    }
                }

                return gaps;
            }
        }
    }

    public Task Connected => _firstConnect.Task;

    /// <summary>What the MONITOR log says about exclusivity so far.</summary>
    public ExclusivityReport Exclusivity
    {
        get
        {
            lock (_gate)
            {
                return new ExclusivityReport([.. _overlaps], [.. _staleAccepted], _acceptedWrites, _refusedWrites, _staleRefused, _lateSessionCallsRefused)
                {
                    RevivedSessions = [.. _revived],
                };
            }
        }
    }

    public IReadOnlyList<Grant> GrantsOf(string lbsId) => _grants.TryGetValue(lbsId, out var q) ? q.ToArray() : [];

    /// <summary>
    /// What Redis refused of one session's calls (<c>consumer|suffix</c>, as in its ownership records): stale writes
    /// (an ownership-checked write refused because the record had moved on or the session was dead) and late calls of
    /// the session once its deadline had passed (a renewal, read, claim or close that did not revive it).
    /// </summary>
    public SessionRefusals RefusedFor(string session)
    {
        lock (_gate)
        {
            return _refusedBySession.GetValueOrDefault(session) ?? new SessionRefusals(0, 0);
        }
    }

    /// <summary>
    /// The longest time (ms, Redis clock) between two renewals of one session inside [<paramref name="fromMicros"/>,
    /// <paramref name="toMicros"/>] (the gap counts when its later renewal falls inside), with that session; 0 when none.
    /// </summary>
    public (double GapMs, string? Session) LongestRenewalGap(long fromMicros, long toMicros)
    {
        lock (_gate)
        {
            var longest = (GapMs: 0.0, Session: (string?)null);
            foreach (var ((_, session), times) in _renewals)
            {
                for (var i = 1; i < times.Count; i++)
                {
                    if (times[i] >= fromMicros && times[i] <= toMicros && (times[i] - times[i - 1]) / 1000.0 > longest.GapMs)
                    {
                        longest = ((times[i] - times[i - 1]) / 1000.0, session);
                    }
                }
            }

            return longest;
        }
    }

    /// <summary>
    /// The longest time (ms, Redis clock) one session went without a renewal in any partition during
    /// [<paramref name="fromMicros"/>, <paramref name="toMicros"/>], among the sessions <paramref name="sessions"/> selects
    /// (<c>consumer|suffix</c>), with that session; 0 when none. Unlike <see cref="LongestRenewalGap"/> it also counts a
    /// silence no renewal ended: from a session's last renewal (or its opening) to its end (removed, or closed), the
    /// deadline that renewal set, or <paramref name="toMicros"/>, whichever comes first. A worker starved past its deadline renews that
    /// session never again (Redis would refuse it), so its longest silence has no later renewal to close it.
    /// </summary>
    public (double SilenceMs, string? Session) LongestRenewalSilence(long fromMicros, long toMicros, Func<string, bool> sessions)
    {
        lock (_gate)
        {
            var longest = (SilenceMs: 0.0, Session: (string?)null);
            foreach (var key in _renewals.Keys.Union(_sessionOpens.Keys).ToList())
            {
                if (!sessions(key.Session))
                {
                    continue;
                }

                var times = _renewals.GetValueOrDefault(key) ?? [];
                if (_sessionOpens.TryGetValue(key, out var openedAt))
                {
                    times = [openedAt, .. times];
                }

                for (var i = 0; i < times.Count; i++)
                {
                    // Silent from this renewal until the next one, else until the session ended or the deadline the
                    // renewal set passed (dead then, whether or not anyone noticed), cut at the window's end.
                    var end = i + 1 < times.Count ? times[i + 1]
                        : Math.Min(
                            _sessionEnds.TryGetValue(key, out var endedAt) && endedAt >= times[i] ? endedAt : long.MaxValue,
                            _ownDeadlines.GetValueOrDefault(key, long.MaxValue));
                    end = Math.Min(end, toMicros);
                    if (times[i] > toMicros || end < fromMicros)
                    {
                        continue;
                    }

                    if ((end - times[i]) / 1000.0 > longest.SilenceMs)
                    {
                        longest = ((end - times[i]) / 1000.0, key.Session);
                    }
                }
            }

            return longest;
        }
    }

    /// <summary>True when <paramref name="token"/> may have been granted for entry <paramref name="id"/> while the monitor was away.</summary>
    public bool InGap(string id, long token)
    {
        var partition = PartitionOfId(id);
        return Gaps.Any(g => g.Partition == partition && token > g.After && token < g.Before);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        var connectedBefore = false;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var client = new TcpClient { NoDelay = true };
                await client.ConnectAsync(_host, _port, _stop.Token);
                await using var stream = client.GetStream();
                await stream.WriteAsync("MONITOR\r\n"u8.ToArray(), _stop.Token);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var ok = await reader.ReadLineAsync(_stop.Token);
                if (ok != "+OK")
                {
                    throw new IOException("MONITOR answered " + ok);
                }

                if (connectedBefore)
                {
                    Reconnects++;
                }

                connectedBefore = true;
                _firstConnect.TrySetResult();
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    OnLine(line);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // Redis went away (a restart): reconnect; what was granted meanwhile becomes a gap.
            }

            lock (_gate)
            {
                for (var p = 0; p < _prefixes.Length; p++)
                {
                    if (connectedBefore && !_gapOpen[p])
                    {
                        _gapOpen[p] = true;
                        _gapAfter[p] = _lastToken[p];
                    }
                }

                _epoch++;
                _call = null;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void OnLine(string line)
    {
        // "<seconds>.<micros> [<db> <client>|lua] "CMD" "arg" ...": only script calls and the commands they run matter.
        var open = line.IndexOf('[', StringComparison.Ordinal);
        var close = open < 0 ? -1 : line.IndexOf(']', open);
        if (close < 0 || !double.TryParse(line.AsSpan(0, open).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return;
        }

        var micros = (long)(seconds * 1_000_000);
        var fromLua = line.AsSpan(open, close - open).EndsWith(" lua", StringComparison.Ordinal);
        lock (_gate)
        {
            if (!fromLua)
            {
                EndCall();
                var head = line.AsSpan(close + 1).TrimStart();
                if (head.StartsWith("\"EVALSHA\"", StringComparison.OrdinalIgnoreCase) || head.StartsWith("\"EVAL\"", StringComparison.OrdinalIgnoreCase))
                {
                    _call = new ScriptCall(Arguments(line.AsSpan(close + 1)));
                }

                return;
            }

            var args = Arguments(line.AsSpan(close + 1));
            if (args.Count < 2)
            {
                return;
            }

            OnScriptCommand(args, micros);
        }
    }

    private void OnScriptCommand(List<string> args, long micros)
    {
        var command = args[0].ToUpperInvariant();
        var key = args[1];
        // The partition whose keys the command touches (a script stays in one); a key of none (a summary hash) is
        // judged in the partition the script has touched so far, if any.
        var p = PartitionOfKey(key) ?? _call?.Partition ?? -1;
        if (p < 0)
        {
            return;
        }

        if (_call is not null)
        {
            _call.Partition ??= p;
        }

        var leasePrefix = _leasePrefixes[p];
        var ownersKey = _ownersKeys[p];
        var sessionsKey = _sessionsKeys[p];
        var leaseId = key.StartsWith(leasePrefix, StringComparison.Ordinal) ? key[leasePrefix.Length..] : null;
        switch (command)
        {
            case "SET" when leaseId is not null && args.Count >= 5 && args[3].Equals("PX", StringComparison.OrdinalIgnoreCase):
                OnGrant(p, leaseId, args[2], micros, ttlMs: long.Parse(args[4], CultureInfo.InvariantCulture));
                break;
            case "HSET" when key == ownersKey && args.Count >= 4:
                // Bulk grants (claim.lua) set many records in one variadic HSET: every field/value pair is a grant.
                for (var i = 2; i + 1 < args.Count; i += 2)
                {
                    OnGrant(p, args[i], args[i + 1], micros, ttlMs: null);
                }

                break;
            case "HGET" when key == ownersKey && args.Count >= 3 && _call?.ValueFor(args[2]) is { } recordChecked:
                _call.Checks[IdOf(p, args[2])] = recordChecked;
                _call.CheckedRecord = true;
                break;
            case "HMGET" when key == ownersKey && _call is { HasLeaseValues: true }:
                // Bulk ownership-checked writes (release.lua) read every record they check in one HMGET.
                foreach (var id in args.Skip(2))
                {
                    if (_call.ValueFor(id) is { } bulkChecked)
                    {
                        _call.Checks[IdOf(p, id)] = bulkChecked;
                        _call.CheckedRecord = true;
                    }
                }

                break;
            case "ZSCORE" when key == sessionsKey && args.Count >= 3 && _call is { HasLeaseValues: false, SessionCall: null }:
                // Session model: a renewal, read or claim checks its own session first; one whose deadline has passed
                // is refused and writes nothing.
                _call.SessionCall = args[2];
                _call.StartMicros = micros;
                _call.SessionCallLate = _sessionDeadlines.TryGetValue((p, args[2]), out var knownDeadlineMs) && knownDeadlineMs * 1000 <= micros;
                break;
            case "ZSCORE" when key == sessionsKey && args.Count >= 3 && _call is { HasLeaseValues: true }:
                // Session model: an ownership-checked script first checks that the caller's session is live.
                _call.SessionChecked = args[2];
                _call.StartMicros = micros;
                break;
            case "HDEL" when key == ownersKey:
                foreach (var id in args.Skip(2))
                {
                    OnWrite(p, id);
                    if (_leases.TryGetValue(IdOf(p, id), out var removed))
                    {
                        removed.Ended = true;
                    }
                }

                break;
            case "ZADD" when key == sessionsKey:
                // ZADD key [NX|XX|GT|LT|CH]... score member [score member ...]
                var first = 2;
                while (first < args.Count && !double.TryParse(args[first], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                {
                    first++;
                }

                // open_session.lua: a ZADD NX of the caller's own session, with no check before it.
                var opening = _call is { HasLeaseValues: false, SessionCall: null } && args.Take(first).Skip(2).Any(a => a.Equals("NX", StringComparison.OrdinalIgnoreCase));
                for (var i = first; i + 1 < args.Count; i += 2)
                {
                    var member = args[i + 1];
                    var deadlineMs = (long)double.Parse(args[i], NumberStyles.Float, CultureInfo.InvariantCulture);
                    if (_call is { SessionCall: { } caller } && caller == member && deadlineMs * 1000 > micros)
                    {
                        if (_call.SessionCallLate && _sessionDeadlines.GetValueOrDefault((p, member)) * 1000 + RevivalToleranceMicros <= _call.StartMicros)
                        {
                            // Invariant 3: a dead session stays dead; a renewal that extends a passed deadline revives it.
                            _revived.Add($"{member}: deadline {_sessionDeadlines.GetValueOrDefault((p, member))} ms had passed when a call at {_call.StartMicros / 1000} ms extended it to {deadlineMs} ms");
                        }

                        _call.ExtendedDeadline = true;
                        RenewalsOf(p, member).Add(micros);
                        _ownDeadlines[(p, member)] = deadlineMs * 1000;
                    }
                    else if (opening && deadlineMs * 1000 > micros)
                    {
                        _sessionOpens[(p, member)] = micros;
                        _ownDeadlines[(p, member)] = deadlineMs * 1000;
                    }
                    else if (deadlineMs * 1000 <= micros)
                    {
                        _sessionEnds[(p, member)] = micros;
                    }

                    _sessionDeadlines[(p, member)] = deadlineMs;
                }

                break;
            case "ZREM" when key == sessionsKey:
                foreach (var session in args.Skip(2))
                {
                    _sessionDeadlines[(p, session)] = 0;
                    _sessionEnds[(p, session)] = micros;
                }

                break;
            case "GET" when leaseId is not null && _call?.ValueFor(leaseId) is { } checkedValue:
                _call.Checks[IdOf(p, leaseId)] = checkedValue;
                break;
            case "PEXPIRE" when leaseId is not null:
                OnWrite(p, leaseId);
                if (_leases.TryGetValue(IdOf(p, leaseId), out var renewed))
                {
                    renewed.LiveUntil = micros + long.Parse(args[2], CultureInfo.InvariantCulture) * 1000;
                }

                break;
            case "DEL":
                foreach (var deleted in args.Skip(1).Where(k => k.StartsWith(leasePrefix, StringComparison.Ordinal)))
                {
                    var id = deleted[leasePrefix.Length..];
                    OnWrite(p, id);
                    if (_leases.TryGetValue(IdOf(p, id), out var ended))
                    {
                        ended.Ended = true;
                    }
                }

                break;
            case "HSET" when key.StartsWith(_checkpointPrefixes[p], StringComparison.Ordinal):
                OnWrite(p, key[_checkpointPrefixes[p].Length..]);
                break;
            case "HINCRBY" when args.Count >= 3:
                OnWrite(p, args[2]);
                break;
        }
    }

    private List<long> RenewalsOf(int partition, string session)
    {
        if (!_renewals.TryGetValue((partition, session), out var times))
        {
            _renewals[(partition, session)] = times = [];
        }

        return times;
    }

    /// <summary>The partition whose control prefix <paramref name="key"/> starts with; null for none.</summary>
    private int? PartitionOfKey(string key)
    {
        for (var p = 0; p < _prefixes.Length; p++)
        {
            if (key.StartsWith(_prefixes[p], StringComparison.Ordinal))
            {
                return p;
            }
        }

        return null;
    }

    /// <summary>An entry as applications name it: the entry id with one partition, <c>&lt;partition&gt;:&lt;entry id&gt;</c> with more.</summary>
    private string IdOf(int partition, string entryId) =>
        _prefixes.Length == 1 ? entryId : partition.ToString(CultureInfo.InvariantCulture) + ":" + entryId;

    private int PartitionOfId(string id)
    {
        if (_prefixes.Length == 1)
        {
            return 0;
        }

        var colon = id.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && int.TryParse(id.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var partition) ? partition : -1;
    }

    private void OnGrant(int partition, string entryId, string value, long micros, long? ttlMs)
    {
        var parts = value.Split('|');
        if (parts.Length < 3 || !long.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var token))
        {
            return;
        }

        var id = IdOf(partition, entryId);
        if (_gapOpen[partition])
        {
            // A restart without persistence starts the fence again from 1: the gap then covers 0..token.
            _gaps.Add((partition, token > _gapAfter[partition] ? _gapAfter[partition] : 0, token));
            _gapOpen[partition] = false;
        }

        if (_leases.TryGetValue(id, out var previous) && previous.Epoch == _epoch && !previous.Ended && LiveUntil(previous) > micros + OverlapToleranceMicros)
        {
            _overlaps.Add($"{id}: token {token} ({parts[0]}) granted while token {previous.Token} ({previous.Value.Split('|')[0]}) was live for {(LiveUntil(previous) - micros) / 1000} ms more");
        }

        // A lease key lives for its time to live; an ownership record as long as its session (the value minus the token).
        _leases[id] = ttlMs is { } ttl
            ? new LeaseState(value, token, _epoch) { LiveUntil = micros + ttl * 1000 }
            : new LeaseState(value, token, _epoch) { Partition = partition, Session = value[..value.LastIndexOf('|')] };
        _lastToken[partition] = token;
        _grantsByPartition[partition]++;
        GrantsSeen++;
        _grants.GetOrAdd(id, _ => new ConcurrentQueue<Grant>()).Enqueue(new Grant(token, parts[0], parts[1]));
    }

    /// <summary>A write to an entry's keys inside a script: accepted, so the lease value it checked must be the latest.</summary>
    private void OnWrite(int partition, string entryId)
    {
        var id = IdOf(partition, entryId);
        if (_call is null || !_call.Checks.Remove(id, out var checkedValue))
        {
            return;
        }

        _acceptedWrites++;
        _call.Wrote = true;
        if (_leases.TryGetValue(id, out var latest) && latest.Epoch == _epoch && !string.Equals(latest.Value, checkedValue, StringComparison.Ordinal))
        {
            _staleAccepted.Add($"{id}: a write checked against {checkedValue} was accepted while the latest lease was {latest.Value}");
        }
    }

    /// <summary>The script call ended: every check no write followed was refused.</summary>
    private void EndCall()
    {
        if (_call is null)
        {
            return;
        }

        if (_call is { SessionCall: { } caller, SessionCallLate: true, ExtendedDeadline: false })
        {
            _lateSessionCallsRefused++;
            Refused(caller, late: true);
        }

        // Session model: refused at the session check (the script returned before reading any record): a late write
        // of a session whose deadline had passed.
        if (_call is { SessionChecked: { } session, CheckedRecord: false, Wrote: false })
        {
            _refusedWrites++;
            if (_sessionDeadlines.TryGetValue((_call.Partition ?? 0, session), out var deadlineMs) && deadlineMs * 1000 <= _call.StartMicros)
            {
                _staleRefused++;
                Refused(session, late: false);
            }
        }

        foreach (var (id, checkedValue) in _call.Checks)
        {
            _refusedWrites++;
            if (_leases.TryGetValue(id, out var latest) && latest.Epoch == _epoch && latest.Token > TokenOf(checkedValue))
            {
                _staleRefused++;
                Refused(checkedValue[..checkedValue.LastIndexOf('|')], late: false);
            }
        }

        _call = null;
    }

    private void Refused(string session, bool late)
    {
        var before = _refusedBySession.GetValueOrDefault(session) ?? new SessionRefusals(0, 0);
        _refusedBySession[session] = late ? before with { LateCalls = before.LateCalls + 1 } : before with { StaleWrites = before.StaleWrites + 1 };
    }

    /// <summary>Until when (µs, Redis clock) a lease was live: its own time to live, or its session's deadline.</summary>
    private long LiveUntil(LeaseState lease) =>
        lease.Session is null ? lease.LiveUntil : _sessionDeadlines.GetValueOrDefault((lease.Partition, lease.Session)) * 1000;

    private static long TokenOf(string leaseValue) =>
        long.TryParse(leaseValue[(leaseValue.LastIndexOf('|') + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var token) ? token : long.MaxValue;

    /// <summary>The quoted arguments of a MONITOR line (Redis escapes them like sdscatrepr).</summary>
    private static List<string> Arguments(ReadOnlySpan<char> text)
    {
        var args = new List<string>();
        var current = new StringBuilder();
        var inside = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (!inside)
            {
                if (c == '"')
                {
                    inside = true;
                    current.Clear();
                }

                continue;
            }

            if (c == '\\' && i + 1 < text.Length)
            {
                var next = text[++i];
                if (next == 'x' && i + 2 < text.Length)
                {
                    current.Append((char)Convert.ToInt32(text.Slice(i + 1, 2).ToString(), 16));
                    i += 2;
                }
                else
                {
                    current.Append(next switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => next });
                }
            }
            else if (c == '"')
            {
                inside = false;
                args.Add(current.ToString());
            }
            else
            {
                current.Append(c);
            }
        }

        return args;
    }

    public sealed record Grant(long Token, string ConsumerId, string Instance);

    /// <summary>Overlapping grants and stale accepted writes must be empty; refusals prove fencing worked.</summary>
    /// <param name="LateSessionCallsRefused">Calls of a session whose deadline had passed (a renewal, a read or a claim
    /// sent before the owner learned it was dead and delivered late) that Redis refused: a dead session stays dead.</param>
    public sealed record ExclusivityReport(IReadOnlyList<string> OverlappingGrants, IReadOnlyList<string> StaleWritesAccepted, int CheckedWritesAccepted, int WritesRefused, int StaleWritesRefused, int LateSessionCallsRefused)
    {
        /// <summary>Sessions whose passed deadline a call extended (invariant 3 broken): must be none.</summary>
        public IReadOnlyList<string> RevivedSessions { get; init; } = [];
    }

    /// <summary>One session's calls Redis refused: stale writes, and late calls of the session once it was dead.</summary>
    public sealed record SessionRefusals(int StaleWrites, int LateCalls)
    {
        public int Total => StaleWrites + LateCalls;
    }

    /// <summary>A call's MONITOR time and the script's TIME differ by a little: a revival must be clearly late.</summary>
    private const long RevivalToleranceMicros = 20_000;

    /// <summary>A tolerance for the MONITOR timestamps of commands inside one script (a script sees its start time).</summary>
    private const long OverlapToleranceMicros = 250_000;

    private sealed class LeaseState(string value, long token, int epoch)
    {
        public string Value { get; } = value;

        public long Token { get; } = token;

        public int Epoch { get; } = epoch;

        public long LiveUntil { get; set; }

        /// <summary>Session model: the owning session, whose deadline bounds the record.</summary>
        public string? Session { get; init; }

        /// <summary>Session model: the partition of the record, whose sessions key holds that deadline.</summary>
        public int Partition { get; init; }

        public bool Ended { get; set; }
    }

    /// <summary>One EVAL/EVALSHA and the lease checks its commands made so far.</summary>
    private sealed class ScriptCall(List<string> args)
    {
        /// <summary>Lease values ("consumer|instance|token") among the arguments, with their positions.</summary>
        private readonly List<(int Index, string Value)> _values = [.. args.Select((a, i) => (i, a)).Where(p => LeaseValue().IsMatch(p.a))];

        public Dictionary<string, string> Checks { get; } = new(StringComparer.Ordinal);

        public bool HasLeaseValues => _values.Count > 0;

        /// <summary>Session model: the session whose deadline the script checked first, and when.</summary>
        public string? SessionChecked { get; set; }

        /// <summary>Session model: the session a renewal, read or claim (a call without lease values) checked.</summary>
        public string? SessionCall { get; set; }

        public long StartMicros { get; set; }

        public bool CheckedRecord { get; set; }

        /// <summary>The session a <see cref="SessionCall"/> named was already past its deadline when the call ran.</summary>
        public bool SessionCallLate { get; set; }

        /// <summary>The call set its session's deadline into the future (a renewal accepted, or a revival).</summary>
        public bool ExtendedDeadline { get; set; }

        public bool Wrote { get; set; }

        /// <summary>The partition whose keys the script touched first (a script stays in one).</summary>
        public int? Partition { get; set; }

        /// <summary>The lease value this call presents for the entry: its only one, or the one right after the id (batches).</summary>
        public string? ValueFor(string id)
        {
            if (_values.Count == 1)
            {
                return _values[0].Value;
            }

            foreach (var (index, value) in _values)
            {
                if (index > 0 && string.Equals(args[index - 1], id, StringComparison.Ordinal))
                {
                    return value;
                }
            }

            return null;
        }
    }

    [GeneratedRegex(@"^[^|\s]+\|[^|\s]+\|\d+$", RegexOptions.CultureInvariant)]
    private static partial Regex LeaseValue();
}
