using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace RecoverableStreams.IntegrationTests.Infrastructure;

/// <summary>Keeps every log record (message and exception text) in memory, for tests that assert on logs.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _records = new();

    public IReadOnlyList<CapturedLog> Records => _records.ToArray();

    /// <summary>A factory that writes only to this provider, at every level.</summary>
    public ILoggerFactory CreateFactory() => LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _records);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> records) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The state's values too: a structured-logging sink would write them even when the message omits them.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            records.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), values, exception?.ToString()));
        }
    }
}

/// <summary>One captured log record; <see cref="Text"/> is everything a sink could write.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, string StateValues, string? Exception)
{
    public string Text => $"{Category} {Level} {EventId} {Message} {StateValues} {Exception}";
}
