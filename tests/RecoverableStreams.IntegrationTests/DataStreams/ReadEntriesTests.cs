using RecoverableStreams.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace RecoverableStreams.IntegrationTests.DataStreams;

/// <summary>
/// The contract of <see cref="StreamLease.ReadEntriesAsync"/>'s enumerator (written by hand, not by the compiler): entries
/// in order across batches, a sleep at the end of the stream that an <c>xadd</c> ends, either token or the lease's end
/// stopping a sleeping read, each enumeration reading from its start, and a stopped or disposed read unregistered.
/// </summary>
[Parallelizable(ParallelScope.Self)]
public sealed class ReadEntriesTests : SharedRedisTest
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Entries_come_in_order_across_batches_then_the_reader_sleeps_until_an_entry_is_added()
    {
        await using var owned = await OwnOneStreamAsync();
        var added = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            added.Add((await Redis.GetDatabase().StreamAddAsync(owned.Stream, "n", i))!);
        }

        using var stop = new CancellationTokenSource();
        var read = new List<string>();
        var reading = Task.Run(async () =>
        {
            await foreach (var entry in owned.Lease.ReadEntriesAsync(afterId: "0-0", batchSize: 2, cancellationToken: stop.Token))
            {
                lock (read)
                {
                    read.Add(entry.Id!);
                }
            }
        });
        await Eventually.AssertAsync(() => Count(read) == 5 && owned.Consumer.Client.DataStreams.WaitingReaders == 1, Deadline, "the five entries are read (batches of 2) and the reader sleeps at the end");

        added.Add((await Redis.GetDatabase().StreamAddAsync(owned.Stream, "n", 5))!);
        await Eventually.AssertAsync(() => Count(read) == 6, Deadline, "the added entry wakes the reader");
        await stop.CancelAsync();

        Assert.That(async () => await reading.WaitAsync(Deadline), Throws.InstanceOf<OperationCanceledException>(), "the token stops the sleeping read");
        lock (read)
        {
            Assert.That(read, Is.EqualTo(added), "every entry once, in order");
        }

        Assert.That(owned.Consumer.Client.DataStreams.RegisteredReaders, Is.Zero, "the stopped read no longer waits for wake-ups");
    }

    [TestCase(true, TestName = "The_token_passed_to_ReadEntriesAsync_stops_a_sleeping_read_when_WithCancellation_passed_another")]
    [TestCase(false, TestName = "The_token_passed_to_WithCancellation_stops_a_sleeping_read_when_ReadEntriesAsync_got_another")]
    public async Task Either_token_stops_a_sleeping_read(bool cancelTheReadsToken)
    {
        await using var owned = await OwnOneStreamAsync();
        using var readToken = new CancellationTokenSource();
        using var enumeratorToken = new CancellationTokenSource();
        var reading = Task.Run(async () =>
        {
            await foreach (var _ in owned.Lease.ReadEntriesAsync(cancellationToken: readToken.Token).WithCancellation(enumeratorToken.Token))
            {
            }
        });
        await Eventually.AssertAsync(() => owned.Consumer.Client.DataStreams.WaitingReaders == 1, Deadline, "the reader sleeps at the end of the empty stream");

        await (cancelTheReadsToken ? readToken : enumeratorToken).CancelAsync();

        Assert.That(async () => await reading.WaitAsync(Deadline), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(owned.Consumer.Client.DataStreams.RegisteredReaders, Is.Zero, "the stopped read no longer waits for wake-ups");
    }

    [Test]
    public async Task The_leases_end_stops_a_sleeping_read()
    {
        await using var owned = await OwnOneStreamAsync();
        var reading = Task.Run(async () =>
        {
            await foreach (var _ in owned.Lease.ReadEntriesAsync())
            {
            }
        });
        await Eventually.AssertAsync(() => owned.Consumer.Client.DataStreams.WaitingReaders == 1, Deadline, "the reader sleeps at the end of the empty stream");

        await owned.Lease.ReleaseAsync();

        Assert.That(async () => await reading.WaitAsync(Deadline), Throws.InstanceOf<OperationCanceledException>().With.Property(nameof(OperationCanceledException.CancellationToken)).EqualTo(owned.Lease.OwnershipLost));
        Assert.That(owned.Consumer.Client.DataStreams.RegisteredReaders, Is.Zero, "the stopped read no longer waits for wake-ups");
    }

    [Test]
    public async Task Each_enumeration_reads_from_its_start_and_leaving_one_early_unregisters_it()
    {
        await using var owned = await OwnOneStreamAsync();
        var first = (string)(await Redis.GetDatabase().StreamAddAsync(owned.Stream, "n", 0))!;
        await Redis.GetDatabase().StreamAddAsync(owned.Stream, "n", 1);
        var entries = owned.Lease.ReadEntriesAsync(afterId: "0-0");

        var firstIds = new List<string>();
        for (var round = 0; round < 2; round++)
        {
            await foreach (var entry in entries)
            {
                firstIds.Add(entry.Id!);
                break;
            }

            Assert.That(owned.Consumer.Client.DataStreams.RegisteredReaders, Is.Zero, $"enumeration {round + 1}, left after one entry, no longer waits for wake-ups");
        }

        Assert.That(firstIds, Is.EqualTo(new[] { first, first }), "each enumeration starts after its afterId");
    }

    private static int Count(List<string> read)
    {
        lock (read)
        {
            return read.Count;
        }
    }

    private async Task<OwnedStream> OwnOneStreamAsync()
    {
        var service = TestOptions.NewServiceName();
        var stream = service + ":data";
        var consumer = await TestConsumer.StartAsync(Redis, TestOptions.For(service, lease: TimeSpan.FromSeconds(5), autoClaim: true));
        await new StreamPublisher(Redis, TestOptions.For(service)).AddStreamAsync(stream);
        await Eventually.AssertAsync(() => consumer.Owned.Count == 1, Deadline, "the consumer owns the stream");
        return new OwnedStream(consumer, consumer.Owned[0], stream);
    }

    private sealed record OwnedStream(TestConsumer Consumer, StreamLease Lease, string Stream) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Consumer.DisposeAsync();
    }
}
