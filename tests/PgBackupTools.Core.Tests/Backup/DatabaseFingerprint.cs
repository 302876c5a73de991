using System.Diagnostics;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Backup;

/// <summary>What makes two databases equal for these tests: pg_dump --schema-only, and an md5 of every table's rows.</summary>
internal static class DatabaseFingerprint
{
    public static string Of(PgTestCluster cluster, string database)
    {
        var schema = Run(Path.Combine(cluster.BinDirectory, "pg_dump"), "--schema-only", "-h", cluster.SocketDirectory, "-p", cluster.Port.ToString(), "-U", "postgres", "-d", $"dbname='{database.Replace("\\", "\\\\").Replace("'", "\\'")}'");
        var tables = cluster.Psql("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1", database)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var contents = tables.Select(t => t + "=" + cluster.Psql($"SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x", database));
        // pg_dump 15.14+ brackets plain output with \restrict KEY / \unrestrict KEY, a random key per run.
        var stableSchema = string.Join("\n", schema.Split('\n').Where(l => !l.StartsWith("\\restrict ") && !l.StartsWith("\\unrestrict ")));
        return stableSchema + "\n" + string.Join("\n", contents);
    }

    public static string Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} failed: {stderr.Result}");
        return stdout.Result;
    }

    /// <summary>Runs a shell pipeline (for what a user would type by hand, like gunzip -c FILE | psql).</summary>
    public static void Shell(string script)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-o"); psi.ArgumentList.Add("pipefail"); psi.ArgumentList.Add("-c"); psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"'{script}' failed: {stderr.Result}");
    }
}
