using Microsoft.Extensions.Logging;

namespace Supermachine.Tasks.Cli;

/// <summary>The runtime's <see cref="ILogger"/> notes as host output lines (exec and run show them under --verbose).</summary>
internal sealed class HostLogger(Action<string> write) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        write(formatter(state, exception));
}
