using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// Where a restore or test restore goes: the server the user named (parameters or PGHOST), or else the one the
/// backup was taken from, with user and password from the usual sources.
/// </summary>
internal static class BackupServer
{
    public static PgConnectionInfo Resolve(PgBackup backup, PgConnectionInfo resolved, bool connectionGiven)
    {
        if (connectionGiven || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PGHOST"))) return resolved;
        int colon = backup.Server.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(backup.Server[(colon + 1)..], out int port)) return resolved;
        return resolved.WithServer(backup.Server[..colon].Trim('[', ']'), port);
    }
}
