using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>One captured log record: event, level, message and the structured values.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Values, Exception? Exception)
{
    /// <summary>Everything a sink could write: message, structured values and the exception.</summary>
    public string Text => $"{Category} {Level} {EventId} {Message} {string.Join(" ", Values.Select(v => $"{v.Key}={v.Value}"))} {Exception}";

    public override string ToString() => $"{Level} {EventId.Id} {Message}{(Exception is null ? "" : " | " + Exception.Message)}";
}

/// <summary>An <see cref="ILoggerProvider"/> that keeps every record, so tests can assert what was logged.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _records = new();

    public LogCapture() => Factory = LoggerFactory.Create(builder => builder.AddProvider(this).SetMinimumLevel(LogLevel.Trace));

    /// <summary>A logger factory whose only provider is this capture (everything from Trace up).</summary>
    public ILoggerFactory Factory { get; }

    public IReadOnlyList<CapturedLog> Records => _records.ToArray();

    public IReadOnlyList<CapturedLog> WithEventId(int id) => _records.Where(r => r.EventId.Id == id).ToArray();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, _records);

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(string category, ConcurrentQueue<CapturedLog> records) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                {
                    values[key] = value;
                }
            }

            records.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), values, exception));
        }
    }
}
