using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>A logger factory that keeps every record, so a test can assert which events (by id) were logged.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<Record> _records = new();

    public CapturedLogs() => Factory = LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    public ILoggerFactory Factory { get; }

    public IReadOnlyList<Record> Records => _records.ToArray();

    public IReadOnlyList<Record> WithEventId(int id) => _records.Where(r => r.EventId.Id == id).ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    public sealed record Record(EventId EventId, LogLevel Level, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {EventId.Id} {Message}{(Exception is null ? "" : " | " + Exception.Message)}";
    }

    private sealed class Logger(CapturedLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._records.Enqueue(new Record(eventId, logLevel, formatter(state, exception), exception));
    }
}
