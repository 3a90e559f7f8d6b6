--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Drop databases (except postgres and template1)
--

DROP DATABASE service_db;
DROP DATABASE sls;


--
-- Drop roles
--

DROP ROLE postgres;
DROP ROLE service_account;
DROP ROLE slsuser;
DROP ROLE standby;


--
-- Roles
--

CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'md532c34afc798fe7fe50a4cbdfaceefaf3';
CREATE ROLE service_account;
ALTER ROLE service_account WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'md536dba29996dbfb1800bd2b3f2e7a673d';
CREATE ROLE slsuser;
ALTER ROLE slsuser WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'md564412e727c92ff27edbeb57200f8450e';
CREATE ROLE standby;
ALTER ROLE standby WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS PASSWORD 'md58c3086921d1d3b0da23662fbc7a0c35b';



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
-- PostgreSQL database dump
--

-- Dumped from database version 14.5
-- Dumped by pg_dump version 14.5

SET statement_timeout = 0;
SET lock_timeout = 0;

--
-- Name: sls; Type: DATABASE; Schema: -; Owner: slsuser
--

CREATE DATABASE sls WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE sls OWNER TO slsuser;

\connect sls

SET statement_timeout = 0;

--
-- Name: generic_hardware; Type: TABLE; Schema: public; Owner: slsuser
--

CREATE TABLE public.generic_hardware (
    xname text,
    parent text,
    comp_type text,
    comp_class text
);


ALTER TABLE public.generic_hardware OWNER TO slsuser;

--
-- Name: network; Type: TABLE; Schema: public; Owner: slsuser
--

CREATE TABLE public.network (
    name text,
    full_name text,
    type text
);


ALTER TABLE public.network OWNER TO slsuser;

--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: slsuser
--

CREATE TABLE public.schema_migrations (
    version text,
    dirty text
);


ALTER TABLE public.schema_migrations OWNER TO slsuser;

--
-- Data for Name: generic_hardware; Type: TABLE DATA; Schema: public; Owner: slsuser
--

COPY public.generic_hardware (xname, parent, comp_type, comp_class) FROM stdin;
x3000c0s1b0n0	x3000c0s1b0	comptype_node	River
x3000c0s2b0n0	x3000c0s2b0	comptype_node	River
x3000c0s3b0n0	x3000c0s3b0	comptype_node	River
x3000c0s4b0n0	x3000c0s4b0	comptype_node	River
x3000c0s5b0n0	x3000c0s5b0	comptype_node	River
x3000c0s6b0n0	x3000c0s6b0	comptype_node	River
x3000c0s7b0n0	x3000c0s7b0	comptype_node	River
x3000c0s8b0n0	x3000c0s8b0	comptype_node	River
x3000c0s9b0n0	x3000c0s9b0	comptype_node	River
x3000c0s10b0n0	x3000c0s10b0	comptype_node	River
x3000c0s11b0n0	x3000c0s11b0	comptype_node	River
x3000c0s12b0n0	x3000c0s12b0	comptype_node	River
\.


--
-- Data for Name: network; Type: TABLE DATA; Schema: public; Owner: slsuser
--

COPY public.network (name, full_name, type) FROM stdin;
CAN	Customer Access Network	ethernet
HMN	Hardware Management Network	ethernet
HSN	High Speed Network	slingshot10
MTL	Provisioning Network (untagged)	ethernet
NMN	Node Management Network	ethernet
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: slsuser
--

COPY public.schema_migrations (version, dirty) FROM stdin;
3	f
\.


--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database cluster dump complete
--

