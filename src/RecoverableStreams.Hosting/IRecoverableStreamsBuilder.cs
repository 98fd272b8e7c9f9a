using Microsoft.Extensions.DependencyInjection;

namespace RecoverableStreams.Hosting;

/// <summary>
/// Returned by <c>AddRecoverableRedisStreams</c>: add handlers with <c>AddHandler&lt;THandler&gt;()</c> and other
/// extension methods.
/// </summary>
public interface IRecoverableStreamsBuilder
{
    /// <summary>The application's services.</summary>
    IServiceCollection Services { get; }
}
