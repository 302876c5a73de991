namespace PgBackupTools.Core; internal static class Placeholder {}
