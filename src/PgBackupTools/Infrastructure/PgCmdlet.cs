using System.Collections.Concurrent;
using System.Management.Automation;
using PgBackupTools.Core;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// Base of every cmdlet: the core's async work runs on a worker with a token that Ctrl+C (StopProcessing) cancels,
/// and everything it reports (objects, progress, verbose, warnings) is marshalled back to the pipeline thread,
/// the only thread allowed to call Write*.
/// </summary>
public abstract class PgCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _stop = new();
    private BlockingCollection<Action>? _queue;
    private int _pipelineThreadId;

    protected CancellationToken StopToken => _stop.Token;

    /// <summary>A stable progress id per cmdlet type, so nested bars (parent ids) stay put.</summary>
    protected virtual int ProgressId => Math.Abs(GetType().Name.GetHashCode() % 100000) + 1;

    protected override void StopProcessing() => _stop.Cancel();

    protected override void EndProcessing() => _stop.Dispose();

    /// <summary>Runs <paramref name="work"/> to completion, pumping its Write* calls on this (the pipeline) thread.</summary>
    protected void Run(Func<OperationContext, Task> work)
    {
        _pipelineThreadId = Environment.CurrentManagedThreadId;
        using var queue = new BlockingCollection<Action>();
        _queue = queue;
        var context = new OperationContext
        {
            CancellationToken = _stop.Token,
            Progress = new PumpedProgress(this),
            Verbose = message => Post(() => WriteVerbose(message)),
            Warning = message => Post(() => WriteWarning(message)),
        };
        var task = Task.Run(async () =>
        {
            try { await work(context).ConfigureAwait(false); }
            finally { queue.CompleteAdding(); }
        });
        bool stopped = false;
        foreach (var action in queue.GetConsumingEnumerable())
        {
            if (stopped) continue;
            try { action(); }
            catch (PipelineStoppedException)
            {
                // Keep draining so the worker can clean up (kill pg_dump, abort uploads) before we rethrow.
                stopped = true;
                _stop.Cancel();
            }
        }
        _queue = null;
        CompleteProgress();
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        if (stopped) throw new PipelineStoppedException();
    }

    /// <summary>Runs <paramref name="action"/> on the pipeline thread (now, if we are on it).</summary>
    protected void Post(Action action)
    {
        if (Environment.CurrentManagedThreadId == _pipelineThreadId || _queue is null) action();
        else
        {
            try { _queue.Add(action); }
            catch (InvalidOperationException) { /* completed: the cmdlet is past its work */ }
        }
    }

    protected void PostObject(object value) => Post(() => WriteObject(value));

    /// <summary>
    /// A file as Get-Item returns it: a bare FileInfo lacks the provider's properties, and the FileSystem table view
    /// then shows it without mode, owner and size. Call on the pipeline thread.
    /// </summary>
    protected PSObject FileSystemItem(string path) => InvokeProvider.Item.Get([path], force: true, literalPath: true)[0];

    private bool _progressShown;

    private void CompleteProgress()
    {
        if (!_progressShown) return;
        _progressShown = false;
        WriteProgress(new ProgressRecord(ProgressId, "Done", "Done") { RecordType = ProgressRecordType.Completed });
    }

    private sealed class PumpedProgress(PgCmdlet cmdlet) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => cmdlet.Post(() =>
        {
            var record = new ProgressRecord(cmdlet.ProgressId, value.Activity, value.Percent is not null ? value.Status :
                $"{value.Status} {FormatBytes(value.Bytes)}{(value.TotalBytes is > 0 ? " of ~" + FormatBytes(value.TotalBytes.Value) : "")} at {FormatBytes((long)value.BytesPerSecond)}/s".Trim())
            {
                PercentComplete = value.PercentComplete,
            };
            cmdlet._progressShown = true;
            cmdlet.WriteProgress(record);
        });
    }

    internal static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>-WhatIf always wins; -Force skips the question.</summary>
    protected bool Confirmed(bool force, string target, string action) =>
        force && !WhatIfRequested || ShouldProcess(target, action);

    /// <summary>Like <see cref="Confirmed"/>, for an operation that one sentence names ("What if: Remove WAL ...").</summary>
    protected bool ConfirmedOperation(bool force, string description, string caption) =>
        force && !WhatIfRequested || ShouldProcess(description, description + "?", caption);

    /// <summary>True when this run only says what it would do (-WhatIf, or $WhatIfPreference).</summary>
    protected bool WhatIfRequested =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var whatIf)
            ? whatIf is SwitchParameter { IsPresent: true }
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));

    /// <summary>An ErrorRecord with a category that matches the failure and the sentence the core wrote.</summary>
    protected static ErrorRecord ToErrorRecord(Exception exception, object? target = null)
    {
        if (exception is AggregateException { InnerExceptions.Count: 1 } aggregate) exception = aggregate.InnerExceptions[0];
        if (exception is PgBackupException pg)
        {
            var category = pg.Kind switch
            {
                FailureKind.InvalidArgument => ErrorCategory.InvalidArgument,
                FailureKind.NotFound => ErrorCategory.ObjectNotFound,
                FailureKind.AlreadyExists => ErrorCategory.ResourceExists,
                FailureKind.ConnectionFailed => ErrorCategory.ConnectionError,
                FailureKind.PermissionDenied => ErrorCategory.PermissionDenied,
                FailureKind.InvalidData => ErrorCategory.InvalidData,
                FailureKind.ToolFailed => ErrorCategory.InvalidResult,
                FailureKind.NotInstalled => ErrorCategory.NotInstalled,
                FailureKind.Cancelled => ErrorCategory.OperationStopped,
                _ => ErrorCategory.InvalidOperation,
            };
            return new ErrorRecord(pg, pg.GetType().Name + "," + pg.Kind, category, target ?? pg.Target);
        }
        return exception switch
        {
            // The message names where the passphrase came from, never the passphrase.
            WrongPassphraseException => new ErrorRecord(exception, "WrongPassphrase", ErrorCategory.SecurityError, target),
            EncryptedDataException => new ErrorRecord(exception, "EncryptedDataException," + ((EncryptedDataException)exception).Reason, ErrorCategory.InvalidData, target),
            FileNotFoundException or DirectoryNotFoundException => new ErrorRecord(exception, exception.GetType().Name, ErrorCategory.ObjectNotFound, target),
            UnauthorizedAccessException => new ErrorRecord(exception, exception.GetType().Name, ErrorCategory.PermissionDenied, target),
            InvalidDataException => new ErrorRecord(exception, exception.GetType().Name, ErrorCategory.InvalidData, target),
            _ => new ErrorRecord(exception, exception.GetType().Name, ErrorCategory.NotSpecified, target),
        };
    }

    /// <summary>Runs work whose failure ends this one item (WriteError) but not the pipeline.</summary>
    protected void RunForItem(object? target, Func<OperationContext, Task> work)
    {
        try
        {
            Run(work);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteError(ToErrorRecord(e, target));
        }
    }

    /// <summary>Runs work whose failure ends the cmdlet (bad arguments, no repository).</summary>
    protected void RunOrThrow(object? target, Func<OperationContext, Task> work)
    {
        try
        {
            Run(work);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            ThrowTerminatingError(ToErrorRecord(e, target));
        }
    }
}
