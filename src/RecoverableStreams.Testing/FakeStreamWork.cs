using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using RecoverableStreams.Hosting;
using StackExchange.Redis;

namespace RecoverableStreams.Testing;

/// <summary>
/// One data stream for a handler's unit test, without Redis: feed it entries, run the handler with
/// <see cref="RunAsync"/> (or pass <see cref="CreateContext"/> yourself), then assert on <see cref="Checkpoints"/>
/// and the <see cref="StreamRunOutcome"/> (the same type the worker's run ends in). It behaves as the worker's context does: reading resumes after the last
/// checkpoint and waits for more entries at the end; losing ownership (<see cref="LoseOwnership"/>) cancels the
/// handler's token, ends reading with an <see cref="OperationCanceledException"/> and refuses checkpoints with a
/// <see cref="StreamOwnershipLostException"/>. Entries may be added while the handler runs, from any thread.
/// </summary>
public sealed class FakeStreamWork : IDisposable
{
    private readonly List<StreamEntry> _entries = [];
    private readonly List<StreamCheckpoint> _checkpoints = [];
    private readonly CancellationTokenSource _ownership = new();
    private readonly List<CancellationTokenSource> _linked = [];
    private TaskCompletionSource _entryAdded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private StreamCheckpoint? _stored;
    private int? _loseAfterCheckpoints;
    private int _heartbeats;

    /// <summary>Creates a stream that this consumer owns, with no entries and no checkpoint.</summary>
    /// <param name="dataStreamName">The data stream's name, as the handler sees it.</param>
    /// <param name="idInLbs">The id of the announcing LBS entry.</param>
    public FakeStreamWork(string dataStreamName, string idInLbs = "1700000000000-0")
    {
        ArgumentException.ThrowIfNullOrEmpty(dataStreamName);
        ArgumentException.ThrowIfNullOrEmpty(idInLbs);
        DataStreamName = dataStreamName;
        IdInLbs = idInLbs;
    }

    /// <summary>The data stream's name, as the handler sees it.</summary>
    public string DataStreamName { get; }

    /// <summary>The id of the announcing LBS entry.</summary>
    public string IdInLbs { get; }

    /// <summary>The producer's <c>Info</c>, as set by <see cref="WithInfo"/>.</summary>
    public IReadOnlyDictionary<string, JsonElement>? AdditionalInfo { get; private set; }

    /// <summary>How the worker came to own the stream.</summary>
    /// <value>The default is <see cref="LeaseOrigin.Assigned"/>.</value>
    public LeaseOrigin Origin { get; set; } = LeaseOrigin.Assigned;

    /// <summary>The consumer id the handler sees.</summary>
    /// <value>The default is <c>test-consumer</c>.</value>
    public string ConsumerId { get; set; } = "test-consumer";

    /// <summary>The fencing token the handler sees and checkpoints carry.</summary>
    /// <value>The default is 1.</value>
    public long FencingToken { get; set; } = 1;

    /// <summary>The attempt number the handler sees.</summary>
    /// <value>The default is 1.</value>
    public int Attempt { get; set; } = 1;

    /// <summary>The worker's <c>MaxDeliveryAttempts</c>: a failure on this attempt is <see cref="StreamRunOutcome.DeadLettered"/>.</summary>
    /// <value>The default is 5, as the worker's.</value>
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>The entries added so far, in order.</summary>
    public IReadOnlyList<StreamEntry> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToArray();
            }
        }
    }

    /// <summary>Every checkpoint the handler stored, in order.</summary>
    public IReadOnlyList<StreamCheckpoint> Checkpoints => _checkpoints;

    /// <summary>The checkpoint a new owner would resume after: the last one stored, or the one given to <see cref="WithCheckpoint"/>.</summary>
    public StreamCheckpoint? Checkpoint => _stored;

    /// <summary>How many times progress was recorded (each entry read, and each <see cref="StreamWorkContext.Heartbeat"/>).</summary>
    public int Heartbeats => Volatile.Read(ref _heartbeats);

    /// <summary>False once <see cref="LoseOwnership"/> was called.</summary>
    public bool IsOwned => !_ownership.IsCancellationRequested;

    /// <summary>The exception the handler threw in the last <see cref="RunAsync"/>, if it threw.</summary>
    public Exception? Exception { get; private set; }

    /// <summary>Appends an entry to the data stream; a handler waiting at the end reads it at once.</summary>
    /// <param name="fields">The entry's fields and values.</param>
    /// <returns>The entry's id (<c>1-0</c>, <c>2-0</c>, ...).</returns>
    public string AddEntry(params (string Field, RedisValue Value)[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        string id;
        lock (_entries)
        {
            id = (_entries.Count + 1).ToString(CultureInfo.InvariantCulture) + "-0";
            _entries.Add(new StreamEntry(id, fields.Select(f => new NameValueEntry(f.Field, f.Value)).ToArray()));
        }

        Interlocked.Exchange(ref _entryAdded, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return id;
    }

    /// <summary>Sets the producer's <c>Info</c>, as a <see cref="StreamPublisher"/> would have written it.</summary>
    /// <param name="info">The producer's information.</param>
    /// <returns>This stream.</returns>
    public FakeStreamWork WithInfo(IDictionary<string, object?> info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var json = JsonSerializer.SerializeToElement(info);
        AdditionalInfo = json.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
        return this;
    }

    /// <summary>Sets the checkpoint a previous owner left, so the handler resumes after it (as a taken-over stream does).</summary>
    /// <param name="position">The id of the last processed entry.</param>
    /// <param name="state">The previous owner's state.</param>
    /// <returns>This stream.</returns>
    public FakeStreamWork WithCheckpoint(string position, ReadOnlyMemory<byte> state = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(position);
        _stored = new StreamCheckpoint(position, state.ToArray(), FencingToken - 1);
        return this;
    }

    /// <summary>Ends ownership now, as a lease that expired or was taken over: the handler's token fires.</summary>
    public void LoseOwnership() => _ownership.Cancel();

    /// <summary>Ends ownership right after the <paramref name="count"/>-th checkpoint is stored.</summary>
    /// <param name="count">How many checkpoints succeed first.</param>
    public void LoseOwnershipAfterCheckpoints(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _loseAfterCheckpoints = count;
        if (_checkpoints.Count >= count)
        {
            LoseOwnership();
        }
    }

    /// <summary>Fires when ownership is lost: pass it (or a token linked to it) as the handler's token when calling the handler yourself.</summary>
    public CancellationToken OwnershipLost => _ownership.Token;

    /// <summary>
    /// Makes the context a handler gets, for calling the handler yourself; its reads end when
    /// <paramref name="cancellationToken"/> fires or ownership is lost. <see cref="RunAsync"/> does all of this.
    /// </summary>
    /// <param name="cancellationToken">Stands for the host stopping.</param>
    /// <returns>The context.</returns>
    public StreamWorkContext CreateContext(CancellationToken cancellationToken = default)
    {
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _ownership.Token);
        lock (_linked)
        {
            _linked.Add(linked);
        }

        return new FakeStreamWorkContext(this, Attempt, linked.Token);
    }

    /// <summary>
    /// Runs <paramref name="handler"/> on this stream as the worker does and says what the worker would do next. A
    /// handler that reads past the last entry waits for more, as on Redis: add them, lose ownership, or cancel.
    /// </summary>
    /// <param name="handler">The handler under test.</param>
    /// <param name="cancellationToken">Stands for the host stopping.</param>
    /// <returns>The outcome.</returns>
    public async Task<StreamRunOutcome> RunAsync(IStreamWorkHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Exception = null;
        using var token = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _ownership.Token);
        var context = new FakeStreamWorkContext(this, Attempt, token.Token);
        try
        {
            await handler.HandleAsync(context, token.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The handler's exception is the outcome being reported.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Exception = ex;
        }

        // As the worker: once cancelled, nothing is completed or counted, whatever the handler did.
        if (!IsOwned)
        {
            return StreamRunOutcome.OwnershipLost;
        }

        if (token.IsCancellationRequested)
        {
            return StreamRunOutcome.ReleasedAtShutdown;
        }

        return Exception is null ? StreamRunOutcome.Completed
            : Attempt >= MaxDeliveryAttempts ? StreamRunOutcome.DeadLettered
            : StreamRunOutcome.RetryScheduled;
    }

    /// <summary>What every context of this stream reads: entries after <paramref name="afterId"/> (or the checkpoint), waiting at the end.</summary>
    internal async IAsyncEnumerable<StreamEntry> ReadEntriesAsync(string? afterId, int batchSize, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _ownership.Token);
        var position = Parse(afterId ?? _stored?.Position ?? "0-0");
        while (true)
        {
            linked.Token.ThrowIfCancellationRequested();
            var added = Volatile.Read(ref _entryAdded).Task;
            StreamEntry? found;
            lock (_entries)
            {
                found = _entries.Where(e => Parse(e.Id!).CompareTo(position) > 0).Select(e => (StreamEntry?)e).FirstOrDefault();
            }

            if (found is not { } next)
            {
                await added.WaitAsync(linked.Token).ConfigureAwait(false);
                continue;
            }

            position = Parse(next.Id!);
            Heartbeat();
            yield return next;
        }
    }

    /// <summary>Stores a checkpoint, refused once ownership is lost.</summary>
    internal Task CheckpointAsync(string position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(position);
        cancellationToken.ThrowIfCancellationRequested();
        if (!IsOwned)
        {
            throw new StreamOwnershipLostException($"This consumer no longer owns '{DataStreamName}' ({IdInLbs}); the checkpoint was refused.");
        }

        _stored = new StreamCheckpoint(position, state.ToArray(), FencingToken);
        _checkpoints.Add(_stored);
        if (_checkpoints.Count >= _loseAfterCheckpoints)
        {
            LoseOwnership();
        }

        return Task.CompletedTask;
    }

    /// <summary>The stored checkpoint.</summary>
    internal Task<StreamCheckpoint?> GetCheckpointAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_stored);
    }

    /// <summary>Records progress, as <see cref="StreamWorkContext.Heartbeat"/> does.</summary>
    public void Heartbeat() => Interlocked.Increment(ref _heartbeats);

    /// <summary>Disposes the ownership token and the contexts' linked tokens.</summary>
    public void Dispose()
    {
        lock (_linked)
        {
            _linked.ForEach(l => l.Dispose());
            _linked.Clear();
        }

        _ownership.Dispose();
    }

    private static (long Ms, long Seq) Parse(string id)
    {
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash < 0
            ? (long.Parse(id, CultureInfo.InvariantCulture), 0)
            : (long.Parse(id.AsSpan(0, dash), CultureInfo.InvariantCulture), long.Parse(id.AsSpan(dash + 1), CultureInfo.InvariantCulture));
    }
}
