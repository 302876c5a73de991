using System.Management.Automation;
using PgBackupTools.Core.Restore;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Finds the scratch databases (pgbt_restore_*, pgbt_test_*) that killed restores and test restores left on a server
/// and drops the abandoned ones; writes every one found with what was done and why. Restore-PgDatabase and
/// Test-PgBackup -Restore do the same clean-up before they start; this is the explicit way, with -WhatIf.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PgScratchDatabase", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgScratchDatabase))]
public sealed class RemovePgScratchDatabaseCommand : PgCmdlet
{
    /// <summary>Only the scratch databases with these names (wildcards allowed).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[]? Name { get; set; }

    [Parameter]
    [Alias("Host", "Server")]
    [ValidateNotNullOrEmpty]
    public string? HostName { get; set; }

    [Parameter]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    [Parameter]
    [Alias("User")]
    [ValidateNotNullOrEmpty]
    public string? Username { get; set; }

    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    /// <summary>Drop without asking. -WhatIf still wins.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var server = PgConnectedCmdlet.ResolveConnection(HostName, Port, Username, Credential, ConnectionString, "postgres");
        var patterns = Name?.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToList();
        List<PgScratchDatabase> found = [];
        RunOrThrow(server.Server, async context =>
        {
            found = await ScratchDatabases.FindAsync(server, context.CancellationToken);
        });
        if (patterns is not null) found = found.Where(f => patterns.Any(p => p.IsMatch(f.Name))).ToList();

        var approved = found.Where(f => f.State == ScratchDatabaseState.Abandoned
            && Confirmed(Force, $"database {f.Name} on {f.Server}", $"Drop abandoned scratch database ({f.Reason})")).ToList();
        if (approved.Count > 0)
        {
            RunForItem(server.Server, context => ScratchDatabases.DropAsync(server, approved, context));
        }
        foreach (var database in found)
        {
            if (database.State == ScratchDatabaseState.Interrupted) WriteWarning($"{database.Name} on {database.Server} is NOT dropped: {database.Reason}");
            else if (!database.Dropped) WriteVerbose($"{database.Name}: {database.Reason}");
            WriteObject(database);
        }
    }
}
