using System.Management.Automation;
using PgBackupTools.Core;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// What Protect- and Unprotect-PgBackupFile share: -Path from the pipeline (FileInfo.FullName), -Destination,
/// -Force, and the rule that an existing destination is refused unless -Force, after -WhatIf had its say.
/// </summary>
public abstract class FileProtectionCmdlet : PgRepositoryCmdlet
{
    /// <summary>The files to process; Get-ChildItem output binds here by its FullName.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Where the output goes (one input file only).</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Overwrite an existing destination.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected abstract string Action { get; }
    protected abstract string DefaultDestination(string source);
    protected abstract FileInfo Process(string source, string destination, bool overwrite, OperationContext context);

    private int _seen;

    protected override void ProcessRecord()
    {
        foreach (var item in Path)
        {
            string source = GetUnresolvedProviderPathFromPSPath(item);
            if (Destination is not null && ++_seen > 1)
            {
                WriteError(new ErrorRecord(new PSArgumentException($"-Destination names one file, but more than one file was given ({source}). Leave out -Destination to write each beside its source."),
                    "DestinationForManyFiles", ErrorCategory.InvalidArgument, item));
                continue;
            }
            if (!File.Exists(source))
            {
                WriteError(new ErrorRecord(new FileNotFoundException($"The file {source} does not exist.", source), "SourceNotFound", ErrorCategory.ObjectNotFound, item));
                continue;
            }
            string destination;
            try
            {
                destination = Destination is null ? DefaultDestination(source) : GetUnresolvedProviderPathFromPSPath(Destination);
            }
            catch (PSArgumentException e)
            {
                WriteError(new ErrorRecord(e, "NoDefaultDestination", ErrorCategory.InvalidArgument, item));
                continue;
            }
            if (string.Equals(System.IO.Path.GetFullPath(destination), System.IO.Path.GetFullPath(source), StringComparison.Ordinal))
            {
                WriteError(new ErrorRecord(new PSArgumentException($"The destination {destination} is the source itself; give another -Destination."),
                    "DestinationIsSource", ErrorCategory.InvalidArgument, item));
                continue;
            }
            bool exists = File.Exists(destination);
            if (!ShouldProcess(destination, exists ? $"{Action} {source}, overwriting the existing file" : $"{Action} {source}"))
                continue;
            if (exists && !Force)
            {
                WriteError(new ErrorRecord(new IOException($"The destination {destination} already exists. Use -Force to overwrite it, or give another -Destination."),
                    "DestinationExists", ErrorCategory.ResourceExists, destination));
                continue;
            }
            RunForItem(item, context =>
            {
                var written = Process(source, destination, Force, context);
                Post(() => WriteObject(FileSystemItem(written.FullName)));
                return Task.CompletedTask;
            });
        }
    }
}
