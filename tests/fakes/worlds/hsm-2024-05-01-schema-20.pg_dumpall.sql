--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Drop databases (except postgres and template1)
--

DROP DATABASE hmsds;
DROP DATABASE service_db;


--
-- Drop roles
--

DROP ROLE hmsdsuser;
DROP ROLE postgres;
DROP ROLE service_account;
DROP ROLE standby;


--
-- Roles
--

CREATE ROLE hmsdsuser;
ALTER ROLE hmsdsuser WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'md570e7dca28e49f13b36d03338c53e51a4';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'md5ce11f111ab35daeda979e6b400cd24a9';
CREATE ROLE service_account;
ALTER ROLE service_account WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'md518d4a1973d8a0ec3193bffff4733ad1a';
CREATE ROLE standby;
ALTER ROLE standby WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS PASSWORD 'md5df68b78f2bacecaa5fac77b98de02d24';



\connect template1

--
-- PostgreSQL database dump
--

-- Dumped from database version 14.5
-- Dumped by pg_dump version 14.5

SET statement_timeout = 0;
SET lock_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

-- Dumped from database version 14.5
-- Dumped by pg_dump version 14.5

SET statement_timeout = 0;
SET lock_timeout = 0;

DROP DATABASE postgres;
--
-- Name: postgres; Type: DATABASE; Schema: -; Owner: postgres
--

CREATE DATABASE postgres WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE postgres OWNER TO postgres;

\connect postgres

SET statement_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

-- Dumped from database version 14.5
-- Dumped by pg_dump version 14.5

SET statement_timeout = 0;
SET lock_timeout = 0;

--
-- Name: hmsds; Type: DATABASE; Schema: -; Owner: hmsdsuser
--

CREATE DATABASE hmsds WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE hmsds OWNER TO hmsdsuser;

\connect hmsds

SET statement_timeout = 0;

--
-- Name: comp_eth_interfaces; Type: TABLE; Schema: public; Owner: hmsdsuser
--

CREATE TABLE public.comp_eth_interfaces (
    id text,
    description text,
    macaddr text,
    compid text
);


ALTER TABLE public.comp_eth_interfaces OWNER TO hmsdsuser;

--
-- Name: components; Type: TABLE; Schema: public; Owner: hmsdsuser
--

CREATE TABLE public.components (
    id text,
    type text,
    state text,
    role text,
    nid text
);


ALTER TABLE public.components OWNER TO hmsdsuser;

--
-- Name: rf_endpoints; Type: TABLE; Schema: public; Owner: hmsdsuser
--

CREATE TABLE public.rf_endpoints (
    id text,
    type text,
    last_discovery_status text
);


ALTER TABLE public.rf_endpoints OWNER TO hmsdsuser;

--
-- Name: system; Type: TABLE; Schema: public; Owner: hmsdsuser
--

CREATE TABLE public.system (
    id text,
    schema_version text,
    system_info text
);


ALTER TABLE public.system OWNER TO hmsdsuser;

--
-- Data for Name: comp_eth_interfaces; Type: TABLE DATA; Schema: public; Owner: hmsdsuser
--

COPY public.comp_eth_interfaces (id, description, macaddr, compid) FROM stdin;
000000000001	Ethernet Interface	000000000001	x3000c0s1b0n0
000000000002	Ethernet Interface	000000000002	x3000c0s2b0n0
000000000003	Ethernet Interface	000000000003	x3000c0s3b0n0
000000000004	Ethernet Interface	000000000004	x3000c0s4b0n0
000000000005	Ethernet Interface	000000000005	x3000c0s5b0n0
000000000006	Ethernet Interface	000000000006	x3000c0s6b0n0
000000000007	Ethernet Interface	000000000007	x3000c0s7b0n0
000000000008	Ethernet Interface	000000000008	x3000c0s8b0n0
000000000009	Ethernet Interface	000000000009	x3000c0s9b0n0
00000000000a	Ethernet Interface	00000000000a	x3000c0s10b0n0
\.


--
-- Data for Name: components; Type: TABLE DATA; Schema: public; Owner: hmsdsuser
--

COPY public.components (id, type, state, role, nid) FROM stdin;
x3000c0s1b0n0	Node	Ready	Management	1
x3000c0s2b0n0	Node	Ready	Management	2
x3000c0s3b0n0	Node	Ready	Management	3
x3000c0s4b0n0	Node	Ready	Compute	4
x3000c0s5b0n0	Node	Ready	Compute	5
x3000c0s6b0n0	Node	Ready	Compute	6
x3000c0s7b0n0	Node	Ready	Compute	7
x3000c0s8b0n0	Node	Ready	Compute	8
x3000c0s9b0n0	Node	Ready	Compute	9
x3000c0s10b0n0	Node	Ready	Compute	10
\.


--
-- Data for Name: rf_endpoints; Type: TABLE DATA; Schema: public; Owner: hmsdsuser
--

COPY public.rf_endpoints (id, type, last_discovery_status) FROM stdin;
x3000c0s1b0	NodeBMC	DiscoverOK
x3000c0s2b0	NodeBMC	DiscoverOK
x3000c0s3b0	NodeBMC	DiscoverOK
x3000c0s4b0	NodeBMC	DiscoverOK
x3000c0s5b0	NodeBMC	DiscoverOK
x3000c0s6b0	NodeBMC	DiscoverOK
x3000c0s7b0	NodeBMC	DiscoverOK
x3000c0s8b0	NodeBMC	DiscoverOK
x3000c0s9b0	NodeBMC	DiscoverOK
x3000c0s10b0	NodeBMC	DiscoverOK
\.


--
-- Data for Name: system; Type: TABLE DATA; Schema: public; Owner: hmsdsuser
--

COPY public.system (id, schema_version, system_info) FROM stdin;
0	20	{}
\.


--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

-- Dumped from database version 14.5
-- Dumped by pg_dump version 14.5

SET statement_timeout = 0;
SET lock_timeout = 0;

--
-- Name: service_db; Type: DATABASE; Schema: -; Owner: service_account
--

CREATE DATABASE service_db WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE service_db OWNER TO service_account;

\connect service_db

SET statement_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database cluster dump complete
--

