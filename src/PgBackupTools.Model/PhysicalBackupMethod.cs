using System.Text.Json.Serialization;

namespace PgBackupTools;

/// <summary>
/// How a physical backup reads the cluster. FileCopy reads the data directory itself between pg_backup_start and
/// pg_backup_stop on 2+ cores (only where it runs on the server's host, with read access to the files); BaseBackup
/// streams pg_basebackup's tar over the replication protocol (any host). Auto: FileCopy where possible, else BaseBackup.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<PhysicalBackupMethod>))]
public enum PhysicalBackupMethod { Auto, BaseBackup, FileCopy }
